package config

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// yaml.v3 reports a value of the wrong type with the Go type it was decoding into
// ("cannot unmarshal !!str `shop` into config.Namespaces"); plainTypeError says it in the
// file's own terms ("cannot unmarshal a string (`shop`) into a mapping").
// The tag may hold any character but "`" and the value backquotes and line breaks: the
// value runs to the last "` into ".
var typeErrorRE = regexp.MustCompile("(?s)cannot unmarshal (![^`]*?)( `.*`)? into (\\S+)$")

func plainTypeError(msg string) string {
	m := typeErrorRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	got := yamlTagWord(m[1])
	if v := strings.TrimPrefix(m[2], " "); v != "" { // `value`
		// yaml.v3 shows the value as it is, line breaks included: quote those.
		if inner := v[1 : len(v)-1]; quoteUnprintable(inner) != inner {
			v = strconv.Quote(inner)
		}
		got += " (" + v + ")"
	}
	// "cannot unmarshal" stays: it is the phrase yaml.v3 users search for.
	return strings.Replace(msg, m[0], "cannot unmarshal "+got+" into "+goTypeWord(m[3]), 1)
}

// yamlTagWord names a YAML tag (!!str, !!int, !!map…) as a user would.
func yamlTagWord(tag string) string {
	switch strings.TrimPrefix(tag, "!!") {
	case "str":
		return "a string"
	case "int", "float":
		return "a number"
	case "bool":
		return "true/false"
	case "map":
		return "a mapping"
	case "seq":
		return "a list"
	case "null":
		return "null"
	case "timestamp":
		return "a timestamp"
	}
	return "a value tagged " + quoteUnprintable(tag)
}

// goTypeWord names what a Go type accepts in YAML terms.
func goTypeWord(t string) string {
	t = strings.TrimLeft(t, "*")
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	}
	return "a mapping" // a struct: a section of the file
}

// quoteUnprintable quotes s when it holds a line break or another unprintable character,
// which would break the one-line error.
func quoteUnprintable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
