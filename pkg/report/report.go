// Package report renders the audit report document for people and programs: a table for
// terminals, Markdown for tickets and pull requests, and the JSON/YAML document that
// scripts and other reporters build on.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// Format is an output format name as given to -o.
type Format string

const (
	Table    Format = "table"
	JSON     Format = "json"
	YAML     Format = "yaml"
	Markdown Format = "markdown"
	HTML     Format = "html"
)

// Formats lists the formats `auditor run -o` accepts.
var Formats = []Format{Table, JSON, YAML, Markdown, HTML}

// ParseFormat validates an -o value.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown output format %q (want %s)", s, strings.Join(names, ", "))
}

// Options tune rendering.
type Options struct {
	// Color enables ANSI colour in the table (only on a terminal, never with NO_COLOR).
	Color bool
	// Width is the terminal width the table should fit; 0 means 120.
	Width int
	// Rules documents the report's rules by ID for the HTML report (title, action,
	// documentation); rules it lacks are shown by ID only. The CLI fills it from the
	// rule catalog.
	Rules map[string]RuleDoc
}

// Write renders rep in format f.
func Write(w io.Writer, rep *audit.Report, f Format, o Options) error {
	switch f {
	case JSON:
		return WriteJSON(w, rep)
	case YAML:
		return WriteYAML(w, rep)
	case Table:
		return WriteTable(w, rep, o)
	case Markdown:
		return WriteMarkdown(w, rep)
	case HTML:
		return WriteHTML(w, rep, o)
	}
	return fmt.Errorf("unknown output format %q", f)
}

// ShortRef renders an object as kubectl names it (pvc/ns/name, pv/name), the form the
// table and Markdown use; other reporters (Slack) share it so every output names objects
// alike.
func ShortRef(r audit.ObjectRef) string { return shortRef(r) }

// WriteJSON writes the report document as indented JSON.
func WriteJSON(w io.Writer, rep *audit.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rep)
}

// WriteYAML writes the same document as JSON, in YAML: the JSON is re-read as a YAML node
// tree (keeping the JSON field order and names, which carry the contract) and printed in
// block style.
func WriteYAML(w io.Writer, rep *audit.Report) error { return WriteYAMLDocument(w, rep) }

// WriteYAMLDocument writes any JSON-tagged document the way WriteYAML writes the report.
func WriteYAMLDocument(w io.Writer, doc any) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return err
	}
	blockStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// blockStyle clears the flow style JSON input gives every node, keeping quoting only
// where YAML needs it. Empty collections stay in flow style ([] and {}).
func blockStyle(n *yaml.Node) {
	if (n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode) && len(n.Content) > 0 {
		n.Style = 0
	}
	if n.Kind == yaml.ScalarNode {
		n.Style &^= yaml.DoubleQuotedStyle | yaml.FlowStyle
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}
