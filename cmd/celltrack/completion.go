package main

import (
	"fmt"
	"io"

	"github.com/celltrack/celltrack/lot"
	"github.com/urfave/cli/v2"
)

// The bash and zsh scripts are urfave/cli v2's autocomplete/bash_autocomplete
// and autocomplete/zsh_autocomplete (MIT licence) with PROG fixed to
// celltrack; the bash one also works without the bash-completion package. They ask the binary itself for candidates with the hidden
// --generate-bash-completion flag that EnableBashCompletion adds, so they
// never fall out of step with the commands.
const bashCompletion = `# celltrack bash completion: source <(celltrack completion bash)
_celltrack_bash_autocomplete() {
  if [[ "${COMP_WORDS[0]}" != "source" ]]; then
    local cur opts words cword
    COMPREPLY=()
    cur="${COMP_WORDS[COMP_CWORD]}"
    if declare -F _init_completion >/dev/null 2>&1; then
      _init_completion -n "=:" || return
    else
      words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD # without the bash-completion package
    fi
    words=("${words[@]:0:$cword}")
    if [[ "$cur" == "-"* ]]; then
      requestComp="${words[*]} ${cur} --generate-bash-completion"
    else
      requestComp="${words[*]} --generate-bash-completion"
    fi
    opts=$(eval "${requestComp}" 2>/dev/null)
    COMPREPLY=($(compgen -W "${opts}" -- ${cur}))
    return 0
  fi
}
complete -o bashdefault -o default -o nospace -F _celltrack_bash_autocomplete celltrack
`

const zshCompletion = `#compdef celltrack
# celltrack zsh completion: source <(celltrack completion zsh)
_celltrack_zsh_autocomplete() {
  local -a opts
  local cur
  cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _celltrack_zsh_autocomplete celltrack
`

func (rt *runtime) completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		ArgsUsage: "SHELL",
		Description: "Completes commands, subcommands and flags by asking celltrack itself.\n\n" +
			example("source <(celltrack completion bash)      # in ~/.bashrc",
				"source <(celltrack completion zsh)       # in ~/.zshrc",
				"celltrack completion fish > ~/.config/fish/completions/celltrack.fish"),
		Action: rt.action(noDB, 1, func(c *cli.Context) error {
			var script string
			switch shell := c.Args().First(); shell {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return fmt.Errorf("fish completion: %w", err)
				}
				script = s
			default:
				return lot.Errorf(lot.EUSAGE, "no completion for shell %q; choose bash, zsh or fish", shell)
			}
			_, err := io.WriteString(rt.stdout, script)
			return err
		}),
	}
}
