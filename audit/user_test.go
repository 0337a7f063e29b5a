package audit

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not argon2id with OWASP's parameters", h)
	}
	if !CheckPassword(h, "correct horse battery") {
		t.Error("the right password is refused")
	}
	for _, wrong := range []string{"", "correct horse batter", "Correct horse battery", "correct horse battery "} {
		if CheckPassword(h, wrong) {
			t.Errorf("wrong password %q accepted", wrong)
		}
	}
	if h2, _ := HashPassword("correct horse battery"); h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	if _, err := HashPassword("short"); err == nil || !strings.Contains(err.Error(), "the password is 5 characters; use at least 12") {
		t.Errorf("short password: %v", err)
	}
}

// TestCheckPasswordRefusesForeignHashes: a hash edited behind celltrack's back
// must never turn into "any password matches".
func TestCheckPasswordRefusesForeignHashes(t *testing.T) {
	for name, h := range map[string]string{
		"empty key":    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$",
		"empty":        "",
		"bcrypt":       "$2a$10$abcdefghijklmnopqrstuu",
		"huge memory":  "$argon2id$v=19$m=4000000000,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"zero threads": "$argon2id$v=19$m=19456,t=2,p=0$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
	} {
		if CheckPassword(h, "") || CheckPassword(h, "anything") {
			t.Errorf("%s: a password matched %q", name, h)
		}
	}
}
