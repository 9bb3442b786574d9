package cli

import (
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The binary's names. Installed on PATH as kubectl-storage_audit, kubectl runs it as
// `kubectl storage-audit` (kubectl maps the dash of a command to the underscore of a
// plugin file name) and passes the arguments unchanged; help then names it that way.
const (
	programName = "auditor"
	pluginFile  = "kubectl-storage_audit"
	pluginName  = "kubectl storage-audit"
)

// displayName is how help and messages name the program invoked as prog (the base name
// of os.Args[0]).
func displayName(prog string) string {
	prog = strings.TrimSuffix(prog, ".exe")
	if prog == pluginFile {
		return pluginName
	}
	return programName
}

// renamer rewrites the command lines that help texts, examples and messages quote
// ("auditor run …", "Run 'auditor --help'") for another program name. Only "auditor"
// followed by one of the commands or --help is a command line: "storage-auditor",
// "the auditor reads" and the auditor-state ConfigMap stay as written.
type renamer struct {
	name string
	re   *regexp.Regexp
}

func newRenamer(name string, commands []string) *renamer {
	if name == programName {
		return &renamer{name: name}
	}
	alts := make([]string, len(commands))
	for i, c := range commands {
		alts[i] = regexp.QuoteMeta(c)
	}
	re := regexp.MustCompile(`(^|[^\w-])` + programName + `( (?:` + strings.Join(alts, "|") + `)\b| --help\b)`)
	return &renamer{name: name, re: re}
}

func (r *renamer) rewrite(s string) string {
	if r.re == nil {
		return s
	}
	return r.re.ReplaceAllString(s, "${1}"+r.name+"${2}")
}

// rename makes root and every command below it speak of the program as name: the usage
// lines (cobra's display name), the texts, the examples and the flags' help.
func rename(root *cobra.Command, name string) *renamer {
	var commands []string
	for _, c := range root.Commands() {
		commands = append(commands, c.Name())
	}
	commands = append(commands, "help")
	r := newRenamer(name, commands)
	if name == programName {
		return r
	}
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	root.Annotations[cobra.CommandDisplayNameAnnotation] = name
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Short = r.rewrite(c.Short)
		c.Long = r.rewrite(c.Long)
		c.Example = r.rewrite(c.Example)
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) { f.Usage = r.rewrite(f.Usage) })
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return r
}
