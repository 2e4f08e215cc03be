package mariadblocal

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestTemporaryServerAnswersAndIsRemovedOnStop(t *testing.T) {
	s, err := StartTemporary(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "unix", s.Socket()
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var charset string
	if err := db.QueryRowContext(t.Context(), "SELECT @@character_set_server").Scan(&charset); err != nil {
		t.Fatalf("query: %v", err)
	}
	if charset != "utf8mb4" {
		t.Errorf("character_set_server = %s, want utf8mb4 (Kazakh and Russian text)", charset)
	}
	var networking string
	if err := db.QueryRowContext(t.Context(), "SELECT @@skip_networking").Scan(&networking); err != nil || networking != "1" {
		t.Errorf("skip_networking = %q (%v): the server must listen on its socket only", networking, err)
	}
	db.Close()
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Stop", s.dir)
	}
}
