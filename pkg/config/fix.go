package config

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/storage-auditor/auditor/pkg/rules"
)

// Fix configures `auditor run --fix`. Safe fixes need nothing here; destructive ones
// need their rule listed in Allow (and --allow destructive on the command line), so that
// deleting objects takes two deliberate decisions, one of them reviewed in a file.
type Fix struct {
	// Allow lists the rule IDs whose destructive fixes --allow destructive may apply.
	Allow []string `yaml:"allow"`
	// MaxActions caps the actions one run applies (the --max-actions flag overrides it);
	// 0 means the default, 10.
	MaxActions int `yaml:"maxActions"`
	// PodNodeMissingGrace is how long a StatefulSet pod's node must have been gone before
	// the pod-node-missing fix force-deletes the pod (a duration: 10m, 1h).
	PodNodeMissingGrace string `yaml:"podNodeMissingGrace"`
}

// Defaults of the fix section.
const (
	DefaultFixMaxActions          = 10
	DefaultFixPodNodeMissingGrace = 10 * time.Minute
)

func (c *Config) checkFix(root *yaml.Node, at func(keys ...string) string, byID map[string]*rules.Rule) error {
	f := c.File.Fix
	for i, id := range f.Allow {
		if byID[id] == nil {
			return fmt.Errorf("%s: fix.allow: unknown rule %q%s; `auditor rules list` shows the IDs", atIndex(c.Path, root, at, i), id, suggest(id, byID))
		}
	}
	if f.MaxActions < 0 {
		return fmt.Errorf("%s: fix.maxActions: %d: want a positive number (0 for the default, %d)", at("fix", "maxActions"), f.MaxActions, DefaultFixMaxActions)
	}
	if f.PodNodeMissingGrace != "" {
		d, err := rules.ParseDuration(f.PodNodeMissingGrace)
		if err == nil && d < 0 {
			err = fmt.Errorf("%q: must not be negative", f.PodNodeMissingGrace)
		}
		if err != nil {
			return fmt.Errorf("%s: fix.podNodeMissingGrace: %v", at("fix", "podNodeMissingGrace"), err)
		}
	}
	return nil
}

// atIndex names the line of fix.allow[i].
func atIndex(path string, root *yaml.Node, at func(keys ...string) string, i int) string {
	if line := nodeLine(root, "fix", "allow", i); line > 0 {
		return fmt.Sprintf("%s:%d", path, line)
	}
	return at("fix", "allow")
}

// FixAllow returns the rules whose destructive fixes may be applied.
func (c *Config) FixAllow() []string { return c.File.Fix.Allow }

// FixMaxActions returns fix.maxActions, or its default.
func (c *Config) FixMaxActions() int {
	if c.File.Fix.MaxActions > 0 {
		return c.File.Fix.MaxActions
	}
	return DefaultFixMaxActions
}

// FixPodNodeMissingGrace returns fix.podNodeMissingGrace (validated by Parse), or its default.
func (c *Config) FixPodNodeMissingGrace() time.Duration {
	if c.File.Fix.PodNodeMissingGrace == "" {
		return DefaultFixPodNodeMissingGrace
	}
	d, _ := rules.ParseDuration(c.File.Fix.PodNodeMissingGrace)
	return d
}
