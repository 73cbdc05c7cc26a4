package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
)

// TestCreateSizedDirect: a large blob written through CreateSized (O_DIRECT
// where the filesystem allows it) reads back exactly, whatever the shape
// of the writes: aligned 1 MiB chunks, an odd-sized one in the middle (which
// turns O_DIRECT off) and a short tail.
func TestCreateSizedDirect(t *testing.T) {
	ctx := context.Background()
	l, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range []struct {
		name   string
		chunks []int
	}{
		{"aligned then tail", append(repeat(1<<20, 64), 1000)},
		{"odd chunk inside", append(append(repeat(1<<20, 32), 12345), repeat(1<<20, 32)...)},
	} {
		t.Run(shape.name, func(t *testing.T) {
			total := 0
			for _, c := range shape.chunks {
				total += c
			}
			w, err := l.CreateSized(ctx, int64(total))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("O_DIRECT in use: %v", w.(*localWriter).direct)
			var want bytes.Buffer
			buf := make([]byte, 1<<20) // large allocations are page-aligned
			for j := range buf {
				buf[j] = byte(j * 7)
			}
			for i, c := range shape.chunks {
				buf[0], buf[c-1] = byte(i), byte(i>>8)
				want.Write(buf[:c])
				if n, err := w.Write(buf[:c]); err != nil || n != c {
					t.Fatalf("write %d of %d: %d %v", i, c, n, err)
				}
			}
			id := fmt.Sprintf("cafebabe-0000-0000-0000-%012d", len(shape.chunks))
			if err := w.Commit(ctx, id); err != nil {
				t.Fatal(err)
			}
			r, err := l.Open(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
			if err != nil || !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("read back %d bytes (%v), want %d identical", len(got), err, want.Len())
			}
		})
	}
}

func repeat(n, times int) []int {
	s := make([]int, times)
	for i := range s {
		s[i] = n
	}
	return s
}
