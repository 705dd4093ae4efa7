package api

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// errNoFiles refuses a file for a server with no serve.ids_dir.
var errNoFiles = errors.New("source.file: the API does not read server files; give source.ids")

// idsFile resolves name, a job's source.file, inside s.IDsDir: a relative
// path that, once cleaned and with every symlink evaluated, is a regular
// file under that directory. It returns the resolved path. Its errors name
// the file as given and say nothing of what is on the disk.
func (s *Server) idsFile(name string) (string, error) {
	if s.IDsDir == "" {
		return "", errNoFiles
	}
	refused := fmt.Errorf("source.file %s: not a file inside the server's ids directory (serve.ids_dir); name it relative to that directory", name)
	if filepath.IsAbs(name) {
		return "", refused
	}
	root, err := filepath.EvalSymlinks(s.IDsDir)
	if err != nil {
		s.Log.Error("serve.ids_dir cannot be resolved", "error", err)
		return "", refused
	}
	path, err := filepath.EvalSymlinks(filepath.Join(root, filepath.Clean(name)))
	if err != nil || !inside(root, path) {
		return "", refused
	}
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return "", refused
	}
	return path, nil
}

// inside reports whether path is under dir (both clean and absolute).
func inside(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel)
}
