package catalog

import "testing"

func TestFirstOf(t *testing.T) {
	for _, c := range []struct {
		items []string
		n     int
		want  string
	}{
		{nil, 3, ""},
		{[]string{"a", "b"}, 3, "a, b"},
		{[]string{"a", "b", "c"}, 3, "a, b, c"},
		{[]string{"c", "a", "b", "d"}, 2, "c, a, … and 2 more"}, // order kept: the first is the most relevant
	} {
		if got := firstOf(c.items, c.n, ", "); got != c.want {
			t.Errorf("firstOf(%v, %d) = %q, want %q", c.items, c.n, got, c.want)
		}
	}
}
