package main

import (
	"github.com/urfave/cli/v2"
)

// commands lists every command group; each lives in its own file.
func (rt *runtime) commands() []*cli.Command {
	return []*cli.Command{
		rt.initCommand(),
		rt.loginCommand(),
		rt.logoutCommand(),
		rt.whoamiCommand(),
		rt.userCommand(),
		rt.settingsCommand(),
		rt.donorCommand(),
		rt.patientCommand(),
		rt.lotCommand(),
		rt.releaseCommand(),
		rt.containerCommand(),
		rt.siteCommand(),
		rt.labelCommand(),
		rt.isbtCommand(),
		rt.protocolCommand(),
		rt.scheduleCommand(),
		rt.doseCommand(),
		rt.auditCommand(),
		rt.traceCommand(),
		rt.reportCommand(),
		rt.checkCommand(),
		rt.backupCommand(),
		rt.restoreCommand(),
		rt.upgradeCommand(),
		rt.migrateCommand(),
		rt.serveCommand(),
		rt.demoCommand(),
		rt.completionCommand(),
	}
}
