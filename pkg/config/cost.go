package config

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/storage-auditor/auditor/pkg/cost"
)

// checkCost validates the cost section and names the file line of a mistake.
func (c *Config) checkCost(root *yaml.Node) error {
	err := c.File.Cost.Validate()
	if err == nil {
		return nil
	}
	var fe *cost.FieldError
	if errors.As(err, &fe) {
		if line := nodeLine(root, append([]any{"cost"}, fe.Path...)...); line > 0 {
			return fmt.Errorf("%s:%d: %v", c.Path, line, err)
		}
	}
	return fmt.Errorf("%s: %v", c.Path, err)
}

// CostModel returns the compiled price model of the cost section (the shipped prices
// when the file has none). Parse has validated the section, so compiling cannot fail.
func (c *Config) CostModel() *cost.Model {
	m, err := cost.Compile(c.File.Cost)
	if err != nil {
		panic(fmt.Sprintf("config %s: cost section changed after Parse validated it: %v", c.Path, err))
	}
	return m
}

// nodeLine finds the line of a path of map keys (string) and list indexes (int) in a
// YAML document: the line of the deepest part of the path that exists, or 0.
func nodeLine(n *yaml.Node, path ...any) int {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, p := range path {
		switch key := p.(type) {
		case int:
			if n.Kind != yaml.SequenceNode || key < 0 || key >= len(n.Content) {
				return line
			}
			n = n.Content[key]
			line = n.Line
		default:
			if n.Kind != yaml.MappingNode {
				return line
			}
			k := fmt.Sprint(key)
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		}
	}
	return line
}
