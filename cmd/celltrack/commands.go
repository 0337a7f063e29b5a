package main

import (
	"github.com/urfave/cli/v2"
)

// commands lists every command group; each lives in its own file.
func (rt *runtime) commands() []*cli.Command {
	return []*cli.Command{
		rt.initCommand(),
		rt.userCommand(),
		rt.donorCommand(),
		rt.patientCommand(),
		rt.lotCommand(),
		rt.containerCommand(),
		rt.isbtCommand(),
		rt.auditCommand(),
		rt.checkCommand(),
		rt.backupCommand(),
		rt.demoCommand(),
	}
}
