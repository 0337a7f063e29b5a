package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/celltrack/celltrack/store/kv"
)

// BenchmarkAccountSeen is the cost of an account's state as its forms
// carry it (DB.Seen, and accountSeen in the writes: lastSeq walks back
// over the logins since the account's last counted change, decoding each)
// with logins entries since, and of the accounts page's reads (Users and
// every account's Seen) with one account so logged in.
func BenchmarkAccountSeen(b *testing.B) {
	for _, logins := range []int{0, 100, 10_000} {
		db := newTestDB(b)
		u, err := db.User("nina")
		if err != nil {
			b.Fatal(err)
		}
		// The login entries as Login writes them, without its password
		// hash: 1,000 to a transaction.
		for done := 0; done < logins; done += 1000 {
			err := db.engine.Update(func(tx kv.Tx) error {
				w := &writer{db: db, tx: tx, actor: u, now: db.now()}
				for i := done; i < min(done+1000, logins); i++ {
					u.LastLogin = w.now.Add(time.Duration(i) * time.Second)
					if err := w.put(kindUser, u.ID, "login", "", toUserRecord(u)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		want, err := db.Seen(u.ID)
		if err != nil {
			b.Fatal(err)
		}
		if n, _ := db.AuditCount(); uint64(n) < want+uint64(logins) {
			b.Fatalf("the account's state #%d moved with its logins (%d entries)", want, n)
		}
		b.Run(fmt.Sprintf("seen/logins=%d", logins), func(b *testing.B) {
			for b.Loop() {
				if got, err := db.Seen(u.ID); err != nil || got != want {
					b.Fatalf("Seen = %d %v, want %d", got, err, want)
				}
			}
		})
		b.Run(fmt.Sprintf("accountspage/logins=%d", logins), func(b *testing.B) {
			for b.Loop() {
				us, err := db.Users("alice")
				if err != nil {
					b.Fatal(err)
				}
				for _, a := range us {
					if _, err := db.Seen(a.ID); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
