package policies

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// policies is a leaf: it imports nothing else of Bridle's and nothing that
// does network I/O (DESIGN §5).
func TestImportsStayALeaf(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/bridle-gw/bridle/") || path == "net" || strings.HasPrefix(path, "net/") ||
				strings.Contains(path, "grpc") || strings.Contains(path, "redis") {
				t.Errorf("%s imports %s", file, path)
			}
		}
	}
}
