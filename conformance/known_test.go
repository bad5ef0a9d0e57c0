package conformance

import (
	"os"
	"strings"
	"testing"
)

// Every known difference the report names is documented where it says, and every
// scenario pin names a listed difference.
func TestKnownListedInDocs(t *testing.T) {
	docs := map[string]string{}
	for _, path := range []string{"../lua/DEVIATIONS.md", "../embedded/KNOWN_DIFFERENCES.md"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		docs[strings.TrimPrefix(path, "../")] = string(b)
	}
	ids := map[string]bool{}
	for _, k := range Known {
		ids[k.ID] = true
		doc, ok := docs[k.Source]
		if !ok {
			continue // found by this suite, not yet documented elsewhere
		}
		if !strings.Contains(doc, "| "+k.ID+" |") && !strings.Contains(doc, "| `"+k.ID+"` |") {
			t.Errorf("known difference %s is not in %s", k.ID, k.Source)
		}
	}
	for _, sc := range Scenarios() {
		for _, p := range sc.Pins {
			if !ids[p] {
				t.Errorf("scenario %s pins %s, which Known does not list", sc.Name, p)
			}
		}
	}
}
