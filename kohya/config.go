package kohya

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Config is a flat set of sd-scripts arguments keyed by argparse dest name
// (learning_rate, network_args, …), as train_network.py sees them after it
// has read --config_file. Values are TOML-typed Go values: string, int64,
// float64, bool, []any (arrays), or map[string]any for a table nested two
// levels deep (which sd-scripts keeps as a dict and never reads).
type Config map[string]any

// Clone returns a copy whose top-level map and arrays can be changed without
// touching c.
func (c Config) Clone() Config {
	out := make(Config, len(c))
	for k, v := range c {
		if a, ok := v.([]any); ok {
			v = append([]any(nil), a...)
		}
		out[k] = v
	}
	return out
}

// Keys returns the keys in sorted order, the order WriteTOML writes them in.
func (c Config) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ParseConfigTOML decodes a --config_file TOML the way sd-scripts'
// read_config_from_file does: top-level tables are flattened one level (their
// keys copied into one flat set, later tables overwriting earlier ones in
// document order); non-table values are kept as they are. name is used in
// error messages only.
func ParseConfigTOML(name string, data []byte) (Config, error) {
	var doc map[string]any
	dec := toml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, describeTOMLError(err))
	}
	// go-toml decodes into an unordered map; recover document order of the
	// top-level keys so that duplicates across sections resolve as in Python.
	order := topLevelOrder(data, doc)
	out := Config{}
	for _, k := range order {
		v := doc[k]
		if tbl, ok := v.(map[string]any); ok {
			for sk, sv := range tbl {
				out[sk] = normalizeTOMLValue(sv)
			}
			continue
		}
		out[k] = normalizeTOMLValue(v)
	}
	return out, nil
}

// ReadConfigFile reads and flattens a --config_file TOML from disk.
func ReadConfigFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfigTOML(path, data)
}

func describeTOMLError(err error) error {
	var de *toml.DecodeError
	if ok := asDecodeError(err, &de); ok {
		row, col := de.Position()
		return fmt.Errorf("line %d, column %d: %s", row, col, de.Error())
	}
	return err
}

func asDecodeError(err error, target **toml.DecodeError) bool {
	de, ok := err.(*toml.DecodeError)
	if ok {
		*target = de
	}
	return ok
}

// topLevelOrder lists doc's keys in the order their first line appears in the
// source: plain keys before the first [table] header keep their order, then
// each table in header order. Keys it cannot place go last, sorted.
func topLevelOrder(data []byte, doc map[string]any) []string {
	seen := map[string]bool{}
	var order []string
	add := func(k string) {
		if _, ok := doc[k]; ok && !seen[k] {
			seen[k] = true
			order = append(order, k)
		}
	}
	inTable := false
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			inTable = true
			name := strings.Trim(line, "[] \t")
			if i := strings.IndexAny(name, ".]"); i >= 0 {
				name = name[:i]
			}
			add(strings.Trim(strings.TrimSpace(name), `"'`))
			continue
		}
		if inTable {
			continue
		}
		if i := strings.IndexAny(line, "=."); i > 0 {
			add(strings.Trim(strings.TrimSpace(line[:i]), `"'`))
		}
	}
	var rest []string
	for k := range doc {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(order, rest...)
}

func normalizeTOMLValue(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeTOMLValue(e)
		}
		return out
	}
	return v
}

// WriteTOML renders c as the flat TOML sd-scripts reads with --config_file:
// keys sorted, ints as TOML integers, floats always with a decimal point or an
// exponent (so 100.0 stays a float, which sd-scripts treats as a warmup
// ratio), strings quoted, arrays inline. Nil values are omitted, as
// Python's toml.dump omits None.
func WriteTOML(c Config) ([]byte, error) {
	var b strings.Builder
	for _, k := range c.Keys() {
		v := c[k]
		if v == nil {
			continue
		}
		s, err := tomlValue(v)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k, err)
		}
		b.WriteString(tomlKey(k))
		b.WriteString(" = ")
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

func tomlKey(k string) string {
	for _, r := range k {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return strconv.Quote(k)
		}
	}
	return k
}

func tomlValue(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return tomlString(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return tomlFloat(x)
	case float32:
		return tomlFloat(float64(x))
	case []string:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = tomlString(e)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, err := tomlValue(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			s, err := tomlValue(x[k])
			if err != nil {
				return "", err
			}
			parts = append(parts, tomlKey(k)+" = "+s)
		}
		return "{ " + strings.Join(parts, ", ") + " }", nil
	}
	return "", fmt.Errorf("unsupported value type %T", v)
}

func tomlFloat(f float64) (string, error) {
	switch {
	case math.IsNaN(f):
		return "nan", nil
	case math.IsInf(f, 1):
		return "inf", nil
	case math.IsInf(f, -1):
		return "-inf", nil
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	// TOML requires a digit before and after the exponent's mantissa point;
	// Go's 'g' writes 1e-05, which TOML accepts.
	return s, nil
}

// tomlString writes a TOML basic string. strconv.Quote's escapes are a
// superset of TOML's except \x.., so non-printable bytes use \u form.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
