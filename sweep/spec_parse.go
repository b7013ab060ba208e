package sweep

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/runner"
)

// specParser walks a spec's YAML node tree by hand so that every finding
// carries a line number and all findings of a file are collected, not only
// the first one a decoder would stop at.
type specParser struct {
	file     string // as given by the caller, used in messages
	dir      string // absolute directory of the spec: relative paths start here
	problems []Problem
	// badParams had an error already: cross-field checks skip them rather
	// than pile consequences onto the first message.
	badParams map[string]bool
}

func (p *specParser) add(n *yaml.Node, field string, warning bool, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.problems = append(p.problems, Problem{
		File: p.file, Line: line, Field: field,
		Message: fmt.Sprintf(format, args...), Warning: warning,
	})
}

func (p *specParser) errf(n *yaml.Node, field, format string, args ...any) {
	p.add(n, field, false, format, args...)
}

func (p *specParser) warnf(n *yaml.Node, field, format string, args ...any) {
	p.add(n, field, true, format, args...)
}

// didYouMean returns " (did you mean x?)" when a candidate is close to name.
func didYouMean(name string, candidates []string) string {
	if s, ok := kohya.Nearest(name, candidates); ok {
		return " (did you mean " + s + "?)"
	}
	return ""
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// kindName names what a node holds, for "expected X, got Y" messages.
func kindName(n *yaml.Node) string {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "nothing"
		}
		return fmt.Sprintf("the string %q", n.Value)
	}
	return "something else"
}

// entry is one key/value pair of a mapping.
type entry struct {
	key   string
	k, v  *yaml.Node
	field string
}

// mapping checks that n is a mapping whose keys are all in known (any key
// when known is nil), reports unknown and duplicate keys, and returns the
// entries in document order.
func (p *specParser) mapping(n *yaml.Node, field string, known []string) ([]entry, bool) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.errf(n, field, "expected a mapping, got %s", kindName(n))
		return nil, false
	}
	var out []entry
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		key := k.Value
		f := join(field, key)
		if seen[key] {
			p.errf(k, f, "duplicate key %q", key)
			continue
		}
		seen[key] = true
		if known != nil && !contains(known, key) {
			p.errf(k, f, "unknown key %q%s", key, didYouMean(key, known))
			continue
		}
		out = append(out, entry{key: key, k: k, v: v, field: f})
	}
	return out, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isScalar(n *yaml.Node, tag string) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == tag
}

func (p *specParser) str(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		p.errf(n, field, "expected a string, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *specParser) intVal(n *yaml.Node, field string) (int64, bool) {
	if isScalar(n, "!!int") {
		if v, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return v, true
		}
	}
	p.errf(n, field, "expected an integer, got %s", kindName(n))
	return 0, false
}

func (p *specParser) floatVal(n *yaml.Node, field string) (float64, bool) {
	if v, ok := scalarNumber(n); ok {
		return v, true
	}
	p.errf(n, field, "expected a number, got %s", kindName(n))
	return 0, false
}

func scalarNumber(n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		return 0, false
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return 0, false
	}
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	return 0, false
}

func (p *specParser) boolVal(n *yaml.Node, field string) (bool, bool) {
	if isScalar(n, "!!bool") {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	p.errf(n, field, "expected true or false, got %s", kindName(n))
	return false, false
}

func (p *specParser) duration(n *yaml.Node, field string) (runner.Duration, bool) {
	s, ok := p.str(n, field)
	if !ok {
		return 0, false
	}
	var d runner.Duration
	if err := d.UnmarshalText([]byte(s)); err != nil {
		p.errf(n, field, "%v", err)
		return 0, false
	}
	return d, true
}

func (p *specParser) strList(n *yaml.Node, field string) ([]string, bool) {
	if n.Kind != yaml.SequenceNode {
		p.errf(n, field, "expected a list of strings, got %s", kindName(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for i, c := range n.Content {
		c = deref(c)
		f := fmt.Sprintf("%s[%d]", field, i)
		// Numbers in argv lists ("2") are common; take their text.
		if c.Kind == yaml.ScalarNode && (c.Tag == "!!int" || c.Tag == "!!float") {
			out = append(out, c.Value)
			continue
		}
		s, good := p.str(c, f)
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// value decodes a scalar or a list of scalars into typed Go values:
// string, int64, float64, bool, []any. Mappings are refused: no sd-scripts
// argument takes one.
func (p *specParser) value(n *yaml.Node, field string) (any, bool) {
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int":
			v, err := strconv.ParseInt(n.Value, 0, 64)
			if err != nil {
				var f float64
				if n.Decode(&f) == nil {
					return f, true
				}
				p.errf(n, field, "integer %s is out of range", n.Value)
				return nil, false
			}
			return v, true
		case "!!float":
			v, ok := scalarNumber(n)
			if !ok {
				p.errf(n, field, "expected a finite number, got %s", n.Value)
			}
			return v, ok
		case "!!bool":
			b, ok := p.boolVal(n, field)
			return b, ok
		case "!!null":
			p.errf(n, field, "expected a value, got nothing")
			return nil, false
		}
		return n.Value, true
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			c = deref(c)
			if c.Kind != yaml.ScalarNode {
				p.errf(c, fmt.Sprintf("%s[%d]", field, i), "expected a plain value, got %s", kindName(c))
				return nil, false
			}
			v, ok := p.value(c, fmt.Sprintf("%s[%d]", field, i))
			if !ok {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	}
	p.errf(n, field, "expected a value or a list of values, got %s", kindName(n))
	return nil, false
}

// path resolves a spec path: ~ is the home directory, relative paths start
// at the spec's directory. The result is absolute and clean.
func (p *specParser) path(s string) string {
	return resolvePath(p.dir, s)
}

func resolvePath(dir, s string) string {
	if s == "~" || strings.HasPrefix(s, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			s = filepath.Join(home, strings.TrimPrefix(s, "~"))
		}
	}
	if !filepath.IsAbs(s) {
		s = filepath.Join(dir, s)
	}
	return filepath.Clean(s)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxProblem turns a yaml.v3 syntax error into a Problem with its line.
func yamlSyntaxProblem(file string, err error) Problem {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{File: file, Line: line, Message: "YAML syntax: " + m[2]}
	}
	return Problem{File: file, Message: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
}

// plainName reports whether s is safe as a single path element: it names a
// folder under the output root and must not climb out of it.
var plainNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func plainName(s string) bool {
	return plainNameRE.MatchString(s) && !strings.Contains(s, "..")
}
