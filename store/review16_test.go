package store

import (
	"testing"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/dose"
	"github.com/celltrack/celltrack/lot"
	"github.com/celltrack/celltrack/release"
)

// Review 16 A: since witness12 a co-signer's wrong password is "recorded,
// not counted" when the account may not sign the meaning asked. The
// meaning is the caller's choice (POST /api/v1/svc/cosignatures takes it
// from the body; the witness field signs MeaningWitness, the physician
// field MeaningPhysician), and every account may not sign some meaning:
// an admin none, a nurse or lab user not the physician's co-signature.
// So anyone with a session can guess any account's password without end —
// the lockout never comes — and the right guess is told apart from a
// wrong one (the role's refusal instead of the one answer). At the login
// the same wrong passwords lock the account after audit.MaxFailures.
// Expected: a wrong password at a co-signature counts towards the lockout
// as at the login, whatever the meaning asked.
func TestReview16CoSignerWrongPasswordsLockEveryAccount(t *testing.T) {
	for _, c := range []struct{ name, field, meaning string }{
		{"nina", "physician", release.MeaningPhysician}, // a nurse, as the release's physician
		{"liu", "witness", dose.MeaningWitness},         // a lab user, as an infusion's witness
		{"alice", "witness", dose.MeaningWitness},       // the admin, who signs nothing
	} {
		t.Run(c.name, func(t *testing.T) {
			db := newTestDB(t)
			for i := 0; i < audit.MaxFailures+2; i++ {
				if _, err := db.CoSigner(c.field, c.name, "not-the-password-9", c.meaning); lot.ErrorCode(err) != lot.EAUTH {
					t.Fatalf("wrong password %d for %s as %s: %v; want the one answer (EAUTH)", i+1, c.name, c.field, err)
				}
			}
			u := mustUser(t, db, c.name)
			_, right := db.CoSigner(c.field, c.name, testPassword, c.meaning)
			_, wrong := db.CoSigner(c.field, c.name, "not-the-password-9", c.meaning)
			if !u.Locked(db.Now()) {
				t.Errorf("after %d wrong passwords for %s at the %s's co-signature, %s has %d failures counted and is not locked; want locked, as %d wrong logins lock it — meanwhile the right password answers %q, a wrong one %q: a guessing oracle with no lockout",
					audit.MaxFailures+2, c.name, c.field, c.name, u.Failures, audit.MaxFailures, right, wrong)
			}
		})
	}
}
