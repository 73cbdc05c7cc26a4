package syncer

import "testing"

// TestIgnoreBaseGlobAgreesWithRegexp: the base-name fast path decides like
// the full-path regexp it stands in for.
func TestIgnoreBaseGlobAgreesWithRegexp(t *testing.T) {
	rules := append(append([]string{}, DefaultIgnores...), "*.log", "build", "a?c", "[ab]x", "[!ab]y", "**/deep", "x*y*z")
	names := []string{"a", "a~", ".a.swp", ".a.swx", "4913", "d/4913", ".#lock", "#x#", "~$doc", ".~lock.a.odt#",
		".goutputstream-XYZ", "f.tmp", "d/e/f.tmp", "f.tmpx", "x.part", ".DS_Store", "d/Thumbs.db", ".a.tmp.1",
		".bucketfs-tmp-9", "a___jb_tmp___", "f.kate-swp", "f.bak~", "x.log", "d/x.log", "build", "d/build", "abc", "d/axc",
		"ax", "bx", "cx", "cy", "ay", "d/deep", "deep", "xyz", "d/x1y2z", "xz", "tmp", "d.tmp/f"}
	for _, rule := range rules {
		ig := &Ignorer{}
		ig.add(rule)
		if len(ig.rules) != 1 {
			t.Fatalf("rule %q did not compile", rule)
		}
		r := ig.rules[0]
		if rule == "*.tmp" && r.glob == "" {
			t.Errorf("rule %q takes the regexp path", rule)
		}
		for _, n := range names {
			for _, dir := range []bool{false, true} {
				want := !(r.dirOnly && !dir) && r.re.MatchString(n)
				if got := ig.matchOne(n, dir); got != want {
					t.Errorf("rule %q (glob %q) on %q dir=%v: %v, regexp says %v", rule, r.glob, n, dir, got, want)
				}
			}
		}
	}
}
