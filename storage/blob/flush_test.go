package blob

import (
	"context"
	"io"
	"testing"
)

// TestCommitNoSync: a blob committed without sync is readable at once,
// Flush syncs it, and a blob removed before the flush is skipped.
func TestCommitNoSync(t *testing.T) {
	ctx := context.Background()
	l, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"aaaabbbb-0000-0000-0000-000000000001", "aaaabbbb-0000-0000-0000-000000000002"}
	for _, id := range ids {
		w, err := l.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, "content of "+id); err != nil {
			t.Fatal(err)
		}
		if err := w.(NoSyncCommitter).CommitNoSync(ctx, id); err != nil {
			t.Fatal(err)
		}
		r, err := l.Open(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
		r.Close()
		if string(b) != "content of "+id {
			t.Fatalf("read back %q", b)
		}
	}
	if n, err := l.RemoveTemps(ctx); err != nil || n != 0 {
		t.Fatalf("RemoveTemps after CommitNoSync: %d %v", n, err)
	}
	if err := l.Remove(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if len(l.unsynced) != 0 {
		t.Fatalf("%d blobs still unsynced after Flush", len(l.unsynced))
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("second Flush: %v", err)
	}
}
