package pglocal

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"

	"rightsdesk/internal/launch"
)

// EphemeralSettings trades durability for speed, for clusters whose data may
// be lost: test runs.
func EphemeralSettings() map[string]string {
	return map[string]string{
		"fsync":              "off",
		"synchronous_commit": "off",
		"full_page_writes":   "off",
		// One cluster serves every test package of a run, in parallel.
		"max_connections": "300",
	}
}

// StartTemporary starts a throwaway cluster with EphemeralSettings in a new
// temporary folder (launch.TempDir: short, as the socket lives in it);
// Stop removes the folder.
func StartTemporary(ctx context.Context, logger *slog.Logger) (*Server, error) {
	return StartTemporaryWith(ctx, logger, nil)
}

// StartTemporaryWith is StartTemporary with settings that override
// EphemeralSettings: a benchmark that measures commits with fsync on, or
// loads pg_stat_statements (shared_preload_libraries).
func StartTemporaryWith(ctx context.Context, logger *slog.Logger, settings map[string]string) (*Server, error) {
	dir, err := launch.TempDir("rdpg-")
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	all := EphemeralSettings()
	maps.Copy(all, settings)
	s, err := Start(ctx, Options{
		DataDir:  dir,
		Database: "postgres",
		Settings: all,
		Logger:   logger,
	})
	if err != nil {
		_ = os.RemoveAll(dir) // best-effort cleanup of a throwaway folder
		return nil, err
	}
	s.removeDir = dir
	return s, nil
}
