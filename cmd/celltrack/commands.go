package main

import (
	"github.com/urfave/cli/v2"
)

// commands lists every command group; each lives in its own file.
func (rt *runtime) commands() []*cli.Command {
	var cmds []*cli.Command
	for _, tc := range rt.topCommands() {
		cmds = append(cmds, tc.build())
	}
	return cmds
}

// topCommand is a top-level command by its name, built on demand.
type topCommand struct {
	name  string
	build func() *cli.Command
}

// topCommands are the top-level commands in the order --help lists them;
// each name is its command's Name (TestTopCommandNames).
func (rt *runtime) topCommands() []topCommand {
	return []topCommand{
		{"init", rt.initCommand},
		{"login", rt.loginCommand},
		{"logout", rt.logoutCommand},
		{"whoami", rt.whoamiCommand},
		{"user", rt.userCommand},
		{"settings", rt.settingsCommand},
		{"donor", rt.donorCommand},
		{"patient", rt.patientCommand},
		{"lot", rt.lotCommand},
		{"release", rt.releaseCommand},
		{"container", rt.containerCommand},
		{"site", rt.siteCommand},
		{"label", rt.labelCommand},
		{"isbt", rt.isbtCommand},
		{"protocol", rt.protocolCommand},
		{"schedule", rt.scheduleCommand},
		{"dose", rt.doseCommand},
		{"audit", rt.auditCommand},
		{"trace", rt.traceCommand},
		{"report", rt.reportCommand},
		{"check", rt.checkCommand},
		{"backup", rt.backupCommand},
		{"restore", rt.restoreCommand},
		{"upgrade", rt.upgradeCommand},
		{"migrate", rt.migrateCommand},
		{"serve", rt.serveCommand},
		{"demo", rt.demoCommand},
		{"completion", rt.completionCommand},
	}
}
