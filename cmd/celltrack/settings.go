package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/celltrack/celltrack/audit"
	"github.com/celltrack/celltrack/lot"
	"github.com/urfave/cli/v2"
)

// settingsCommand shows and changes the facility's session, lockout and
// password settings.
func (rt *runtime) settingsCommand() *cli.Command {
	return &cli.Command{
		Name:  "settings",
		Usage: "show or change the facility's session, lockout and password settings",
		Subcommands: []*cli.Command{
			{
				Name:        "show",
				Usage:       "show the settings",
				ArgsUsage:   " ",
				Description: example("celltrack settings show"),
				Action: rt.action(readDB, 0, func(c *cli.Context) error {
					s, err := rt.users().Settings()
					if err != nil {
						return err
					}
					return rt.out(settingsView(s), func(w io.Writer) { printSettings(w, s) })
				}),
			},
			{
				Name:      "set",
				Usage:     "change settings (admin only); each change is audited with its reason",
				ArgsUsage: " ",
				Description: "Durations are written 30m, 12h or 90d. --password-max-age off (the default, after NIST\n" +
					"SP 800-63B) never forces a password change.\n\n" +
					example("celltrack settings set --idle 10m --reason 'ward policy 2026-12'"),
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "idle", Usage: "idle expiry of a session, e.g. 15m"},
					&cli.StringFlag{Name: "absolute", Usage: "absolute expiry of a session, e.g. 12h"},
					&cli.StringFlag{Name: "lockout", Usage: "how long 5 wrong passwords lock an account, e.g. 15m"},
					&cli.StringFlag{Name: "password-max-age", Usage: "force a password change after this long, e.g. 365d, or off"},
					&cli.StringFlag{Name: "reason", Required: true, Usage: "why the settings change"},
				},
				Action: rt.action(writeDB, 0, func(c *cli.Context) error {
					s, err := rt.users().Settings()
					if err != nil {
						return err
					}
					changed := false
					for _, f := range []struct {
						flag string
						dst  *time.Duration
					}{{"idle", &s.IdleExpiry}, {"absolute", &s.AbsoluteExpiry}, {"lockout", &s.LockoutDuration}, {"password-max-age", &s.PasswordMaxAge}} {
						if !c.IsSet(f.flag) {
							continue
						}
						d, err := parseSettingDuration(f.flag, c.String(f.flag))
						if err != nil {
							return err
						}
						*f.dst, changed = d, true
					}
					if !changed {
						return lot.Errorf(lot.EUSAGE, "`celltrack settings set` needs at least one of --idle, --absolute, --lockout, --password-max-age")
					}
					if err := rt.users().SetSettings(actor(c), s, c.String("reason")); err != nil {
						return err
					}
					return rt.out(settingsView(s), func(w io.Writer) { printSettings(w, s) })
				}),
			},
		},
	}
}

// settingBounds is the range of each duration flag of `settings set`.
var settingBounds = map[string]audit.Bounds{
	"idle": audit.IdleBounds, "absolute": audit.AbsoluteBounds,
	"lockout": audit.LockoutBounds, "password-max-age": audit.PasswordMaxAgeBounds,
}

// maxDays is the longest day count a time.Duration holds (292 years).
const maxDays = int64(math.MaxInt64 / (24 * time.Hour))

// parseSettingDuration reads 30m, 12h, 90d or off. A number too large for
// a duration is refused naming the value typed and the setting's range,
// never read wrapped around (review 20, finding I: 213506d was 2 days):
// a day count past maxDays, one strconv cannot read, or an hour, minute …
// count time.ParseDuration refuses as too large.
func parseSettingDuration(flag, v string) (time.Duration, error) {
	if flag == "password-max-age" && (v == "off" || v == "0") {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange) || (err == nil && (days > maxDays || days < -maxDays)):
			return 0, settingTooLarge(flag, v)
		case err == nil && days > 0:
			return time.Duration(days) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(v); err == nil {
		return d, nil
	} else if regexp.MustCompile(`^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`).MatchString(v) {
		// Written as a duration, refused by time.ParseDuration: too large.
		return 0, settingTooLarge(flag, v)
	}
	return 0, lot.Errorf(lot.EUSAGE, "--%s %q is not a duration; write it like 30m, 12h or 90d", flag, v)
}

// settingTooLarge refuses a --flag value v larger than any duration, as
// Validate words a value out of range; the flag is the field (the command
// line adds "(--flag)").
func settingTooLarge(flag, v string) error {
	b := settingBounds[flag]
	off := ""
	if flag == "password-max-age" {
		off = ", or off"
	}
	return lot.FieldErrorf(flag, lot.EINVALID, "%s %q is more than a duration holds (%dd); give one within %s%s", b.Field, v, maxDays, b, off)
}

func settingsView(s audit.Settings) map[string]any {
	return map[string]any{"idle_expiry": audit.FormatDuration(s.IdleExpiry), "absolute_expiry": audit.FormatDuration(s.AbsoluteExpiry),
		"lockout_duration": audit.FormatDuration(s.LockoutDuration), "lockout_after": audit.MaxFailures, "password_max_age": audit.FormatDuration(s.PasswordMaxAge)}
}

func printSettings(w io.Writer, s audit.Settings) {
	fmt.Fprintf(w, "idle expiry       %s\n", audit.FormatDuration(s.IdleExpiry))
	fmt.Fprintf(w, "absolute expiry   %s\n", audit.FormatDuration(s.AbsoluteExpiry))
	fmt.Fprintf(w, "lockout           %s after %d wrong passwords in a row\n", audit.FormatDuration(s.LockoutDuration), audit.MaxFailures)
	fmt.Fprintf(w, "password max age  %s\n", audit.FormatDuration(s.PasswordMaxAge))
}
