package app

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"rightsdesk/internal/keyring"
)

// devKeyring is the encryption key of the private PostgreSQL, for running
// rightsdesk on one machine without setting ENCRYPTION_KEY: made once, kept
// next to the data in DataDir/encryption.key (0600), and read back on every
// start, so the data stays readable across restarts. A production set-up
// names DATABASE_URL, and then ENCRYPTION_KEY is required instead.
func devKeyring(dataDir string, logger *slog.Logger) (*keyring.Keyring, error) {
	path := filepath.Join(dataDir, "encryption.key")
	b, err := os.ReadFile(path) // #nosec G304 -- the operator's data folder
	if errors.Is(err, fs.ErrNotExist) {
		if err := writeNewKey(path); err != nil {
			return nil, err
		}
		logger.Warn("using a development encryption key kept next to the private PostgreSQL; set ENCRYPTION_KEY in production", "file", path)
		b, err = os.ReadFile(path) // #nosec G304 -- as above
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	kr, err := keyring.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kr, nil
}

// writeNewKey writes a new key to path unless one is there already (two
// commands starting at once keep one key: O_EXCL).
func writeNewKey(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the operator's data folder
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	_, err = f.WriteString(keyring.Generate() + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
