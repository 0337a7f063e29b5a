package audit

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/celltrack/celltrack/lot"
	"github.com/google/uuid"
	"golang.org/x/crypto/argon2"
)

// Role is what a user is allowed to do.
type Role string

// Roles (issue 2): admin manages users; lab registers donors, lots and QC;
// qa releases; physician prescribes; nurse administers; auditor only reads.
const (
	Admin     Role = "admin"
	Lab       Role = "lab"
	QA        Role = "qa"
	Physician Role = "physician"
	Nurse     Role = "nurse"
	Auditor   Role = "auditor"
)

// Roles lists every role in the order the permission table prints them.
var Roles = []Role{Admin, Lab, QA, Physician, Nurse, Auditor}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == strings.ToLower(strings.TrimSpace(s)) {
			return r, nil
		}
	}
	return "", lot.Errorf(lot.EINVALID, "role %q is not a role; use one of admin, lab, qa, physician, nurse, auditor", s)
}

// Clinical reports whether the role may care for patients at the bedside.
func (r Role) Clinical() bool { return r == Physician || r == Nurse }

// User is a person who may act in celltrack. Its JSON (the server's
// service API) leaves out the fields at their zero value, so that a
// directory entry (Directory) carries no field of the account's state,
// not even a false or empty one.
type User struct {
	ID        uuid.UUID
	Name      string // login name, used with --user
	FullName  string // printed name shown on signatures
	Role      Role
	Disabled  bool      `json:",omitzero"`
	Hash      string    `json:",omitzero"` // argon2id password hash, PHC string format
	CreatedAt time.Time `json:",omitzero"`
	CreatedBy string    `json:",omitzero"`
	// Failures counts consecutive wrong passwords (login or signature);
	// MaxFailures of them set LockedUntil. A right password resets it.
	Failures    int       `json:",omitzero"`
	LockedUntil time.Time `json:",omitzero"`
	LastLogin   time.Time `json:",omitzero"`
	// PasswordChanged is when the password was last set; MustChange is set
	// by an admin's `user add` or reset: the one-time password must be
	// changed at login.
	PasswordChanged time.Time `json:",omitzero"`
	MustChange      bool      `json:",omitzero"`
	// RoleGrant is the admin's e-signature that gave the account the qa or
	// physician role, whose signatures release lots and prescribe.
	RoleGrant *Signature `json:",omitzero"`
}

// ValidateUserName checks a new login name: an identifier as
// lot.ValidateCode has it, without '/': a name is one segment of the
// server's account addresses (/accounts/NAME/disable), and "omar/../quinn"
// would act on quinn.
func ValidateUserName(name string) error {
	if err := lot.ValidateCode("user name", name); err != nil {
		return err
	}
	if strings.Contains(name, "/") {
		return lot.Errorf(lot.EINVALID, "user name %q contains '/'; use letters, digits and - _ . only", name)
	}
	return nil
}

// Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// MinPassword is the shortest password accepted (NIST SP 800-63B 5.1.1.2
// asks at least 8; celltrack asks 12, as issue 10 does).
const MinPassword = 12

// HashPassword returns a salted argon2id hash of password in PHC format.
func HashPassword(password string) (string, error) {
	if n := len([]rune(password)); n < MinPassword {
		return "", lot.Errorf(lot.EINVALID, "the password is %d characters; use at least %d", n, MinPassword)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches the PHC-format hash.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	// Refuse a hash no HashPassword wrote: an empty key would match every
	// password, and huge parameters would exhaust memory.
	if err1 != nil || err2 != nil || len(want) < 16 || len(salt) < 8 || m > 1<<21 || t > 16 || p < 1 || p > 16 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// Signature is an electronic signature (21 CFR 11.50): the signer's printed
// name, the time, the meaning, and the SHA-256 of the record signed, so a
// signature cannot be copied onto another record.
type Signature struct {
	UserID   uuid.UUID
	User     string
	FullName string
	Role     Role
	Time     time.Time
	Meaning  string // e.g. "approved for release"
	Signed   [32]byte
}

// String prints a signature as it appears on screens and reports.
func (s Signature) String() string {
	return s.StringIn(lot.DisplayZone())
}

// StringIn prints a signature as String does, its time local in loc: the
// zone of the site where it was signed at the bedside.
func (s Signature) StringIn(loc *time.Location) string {
	return fmt.Sprintf("%s (%s, %s) %s — %s", s.FullName, s.User, s.Role, lot.FormatTimeIn(s.Time, loc), s.Meaning)
}
