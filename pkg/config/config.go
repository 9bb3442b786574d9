// Package config reads the auditor's config file: strictly (an unknown key is an error),
// with every error naming the file and line, and rule IDs and params checked against the
// registered rules.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/cost"
	"github.com/storage-auditor/auditor/pkg/rules"
)

// File is the config file's shape. Every field is optional.
type File struct {
	// MinSeverity hides findings below it (info, warning, critical).
	MinSeverity string `yaml:"minSeverity"`
	// FailOn sets the exit code threshold (none, info, warning, critical).
	FailOn     string                `yaml:"failOn"`
	Namespaces Namespaces            `yaml:"namespaces"`
	Rules      map[string]RuleConfig `yaml:"rules"`
	Slack      Slack                 `yaml:"slack"`
	State      State                 `yaml:"state"`
	// Cost prices volumes (first match wins) and sets budgets; see docs/cost.md.
	Cost cost.Config `yaml:"cost"`
	// Fix configures auditor run --fix (see fix.go).
	Fix Fix `yaml:"fix"`
}

// Namespaces filters findings by namespace.
type Namespaces struct {
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
}

// RuleConfig tunes one rule.
type RuleConfig struct {
	Enabled  *bool             `yaml:"enabled"`
	Severity string            `yaml:"severity"`
	Params   map[string]string `yaml:"params"`
}

// Config is a validated config file.
type Config struct {
	Path        string
	File        File
	MinSeverity audit.Severity // 0 when unset
	FailOn      audit.Severity // 0 when unset or "none"
	FailOnSet   bool
}

// Load reads and validates path against the registered rules.
func Load(path string, known []*rules.Rule) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("config %s: %v", path, pe.Err)
		}
		return nil, fmt.Errorf("config %s: %v", path, err)
	}
	return Parse(path, b, known)
}

// Parse validates a config document; path is used in messages only.
func Parse(path string, b []byte, known []*rules.Rule) (*Config, error) {
	c := &Config{Path: path}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c.File); err != nil && err != io.EOF {
		return nil, yamlError(path, err)
	}
	var root yaml.Node
	_ = yaml.Unmarshal(b, &root) // cannot fail: the strict decode above succeeded
	at := func(keys ...string) string {
		if line := lineOf(&root, keys...); line > 0 {
			return fmt.Sprintf("%s:%d", path, line)
		}
		return path
	}
	var err error
	if c.File.MinSeverity != "" {
		if c.MinSeverity, err = audit.ParseSeverity(c.File.MinSeverity); err != nil {
			return nil, fmt.Errorf("%s: minSeverity: %v", at("minSeverity"), err)
		}
	}
	if c.File.FailOn != "" {
		c.FailOnSet = true
		if c.File.FailOn != "none" {
			if c.FailOn, err = audit.ParseSeverity(c.File.FailOn); err != nil {
				return nil, fmt.Errorf("%s: failOn: %v (or none)", at("failOn"), err)
			}
		}
	}
	byID := map[string]*rules.Rule{}
	for _, r := range known {
		byID[r.ID] = r
	}
	for id, rc := range c.File.Rules {
		r := byID[id]
		if r == nil {
			return nil, fmt.Errorf("%s: unknown rule %q%s; `auditor rules list` shows the IDs", at("rules", id), id, suggest(id, byID))
		}
		if rc.Severity != "" {
			if _, err := audit.ParseSeverity(rc.Severity); err != nil {
				return nil, fmt.Errorf("%s: rules.%s.severity: %v", at("rules", id, "severity"), id, err)
			}
		}
		for name, v := range rc.Params {
			p := r.Param(name)
			if p == nil {
				return nil, fmt.Errorf("%s: rule %s has no param %q (it has: %s)", at("rules", id, "params", name), id, name, paramNames(r))
			}
			if err := rules.CheckParam(*p, v); err != nil {
				return nil, fmt.Errorf("%s: rules.%s.params.%s: %v", at("rules", id, "params", name), id, name, err)
			}
		}
	}
	if err := c.checkNotify(at); err != nil {
		return nil, err
	}
	if err := c.checkCost(&root); err != nil {
		return nil, err
	}
	if err := c.checkFix(&root, at, byID); err != nil {
		return nil, err
	}
	return c, nil
}

// Settings converts the file into engine settings.
func (c *Config) Settings() rules.Settings {
	s := rules.Settings{
		Rules:             map[string]rules.RuleSettings{},
		IncludeNamespaces: c.File.Namespaces.Include,
		ExcludeNamespaces: c.File.Namespaces.Exclude,
		MinSeverity:       c.MinSeverity,
		Cost:              c.CostModel(),
	}
	for id, rc := range c.File.Rules {
		sev, _ := audit.ParseSeverity(rc.Severity)
		s.Rules[id] = rules.RuleSettings{Enabled: rc.Enabled, Severity: sev, Params: rc.Params}
	}
	return s
}

func paramNames(r *rules.Rule) string {
	if len(r.Params) == 0 {
		return "none"
	}
	var n []string
	for _, p := range r.Params {
		n = append(n, p.Name)
	}
	return strings.Join(n, ", ")
}

// suggest offers the closest rule ID for a typo.
func suggest(id string, byID map[string]*rules.Rule) string {
	best, bestD := "", 4
	for k := range byID {
		if d := distance(id, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

var (
	// A key may hold spaces ("max actions:") or be empty: (.*), or the message would keep
	// its Go type.
	unknownFieldRE = regexp.MustCompile(`^line (\d+): field (.*) not found in type \S+$`)
	lineRE         = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
)

// yamlError turns yaml.v3's multi-line errors into one line naming file and line.
func yamlError(path string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		first := plainTypeError(te.Errors[0]) // no Go type names in user errors (parse.go)
		more := ""
		if len(te.Errors) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(te.Errors)-1)
		}
		if m := unknownFieldRE.FindStringSubmatch(first); m != nil {
			return fmt.Errorf("%s:%s: unknown key %q%s; see config/auditor.yaml for every option", path, m[1], m[2], more)
		}
		if m := lineRE.FindStringSubmatch(first); m != nil {
			return fmt.Errorf("%s:%s: %s%s", path, m[1], m[2], more)
		}
		return fmt.Errorf("%s: %s%s", path, first, more)
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: %s", path, m[1], m[2])
	}
	return fmt.Errorf("%s: %s", path, strings.TrimPrefix(msg, "yaml: "))
}

// lineOf finds the line of a path of map keys in a YAML document, or 0.
func lineOf(n *yaml.Node, keys ...string) int {
	path := make([]any, len(keys))
	for i, k := range keys {
		path[i] = k
	}
	return nodeLine(n, path...)
}
