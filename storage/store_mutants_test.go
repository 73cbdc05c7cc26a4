package storage_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/bucketfs/bucketfs/storage/storetest"
)

// The contract suite must be able to fail: TestContractCatchesMutants runs
// parts of it (in a child process, since a failing subtest fails its whole
// test binary) against a Store with one deliberate bug each, and expects the
// named subtest to fail. A suite edit that stops catching a bug fails here.

const mutantEnv, mutantOnlyEnv = "BUCKETFS_MUTANT", "BUCKETFS_MUTANT_ONLY"

// mutant is a Store with one bug, selected by name.
type mutant struct {
	storage.ObjectStore
	bug string
}

func (x mutant) Versions(ctx context.Context, b, k string) ([]*storage.ObjectVersion, error) {
	vs, err := x.ObjectStore.Versions(ctx, b, k)
	if x.bug == "versions-oldest-first" {
		slices.Reverse(vs)
	}
	return vs, err
}

func (x mutant) GetBucket(ctx context.Context, b string) (*storage.Bucket, error) {
	bk, err := x.ObjectStore.GetBucket(ctx, b)
	if x.bug == "size-off-by-one" && err == nil && bk.Size > 0 {
		bk.Size++
	}
	return bk, err
}

func (x mutant) List(ctx context.Context, b string, o storage.ListOptions) (*storage.ListResult, error) {
	switch x.bug {
	case "list-ignores-limit":
		o.Limit = 0
	case "list-ignores-at":
		o.At = time.Time{}
	case "list-ignores-delimiter":
		o.Delimiter = ""
	}
	return x.ObjectStore.List(ctx, b, o)
}

func (x mutant) Put(ctx context.Context, b, k string, r io.Reader, o storage.PutOptions) (*storage.ObjectVersion, error) {
	if x.bug == "put-ignores-if-match" {
		o.IfMatch = ""
	}
	v, err := x.ObjectStore.Put(ctx, b, k, r, o)
	if x.bug == "locked-is-not-an-error-kind" && errors.Is(err, storage.ErrLocked) {
		err = errors.New("bucket is locked") // right text, wrong kind
	}
	return v, err
}

func (x mutant) Get(ctx context.Context, b, k, v string, off, n int64) (io.ReadCloser, *storage.ObjectVersion, error) {
	if x.bug == "get-ignores-offset" {
		off = 0
	}
	return x.ObjectStore.Get(ctx, b, k, v, off, n)
}

func (x mutant) Delete(ctx context.Context, b, k string, o storage.DeleteOptions) (*storage.ObjectVersion, error) {
	if x.bug == "delete-is-remove" {
		vs, err := x.ObjectStore.Versions(ctx, b, k)
		if err != nil || len(vs) == 0 || vs[0].DeleteMarker() {
			return nil, storage.ErrNotFound
		}
		return vs[0], x.ObjectStore.RemoveVersion(ctx, b, k, vs[0].VersionID)
	}
	return x.ObjectStore.Delete(ctx, b, k, o)
}

func (x mutant) CompleteMultipart(ctx context.Context, id string) (*storage.ObjectVersion, error) {
	if x.bug == "complete-twice-ok" {
		if mp, err := x.ObjectStore.GetMultipart(ctx, id); err == nil && mp.Completed {
			return x.ObjectStore.Stat(ctx, mp.BucketID, mp.Key, mp.VersionID)
		}
	}
	return x.ObjectStore.CompleteMultipart(ctx, id)
}

// TestContractMutantChild is the child of TestContractCatchesMutants.
func TestContractMutantChild(t *testing.T) {
	bug := os.Getenv(mutantEnv)
	if bug == "" {
		t.Skip("helper process of TestContractCatchesMutants")
	}
	opts := storage.DefaultOptions()
	opts.MinPartSize = contractPartSize
	so := storetest.DefaultOptions()
	so.MinPartSize = contractPartSize
	so.Only = os.Getenv(mutantOnlyEnv)
	storetest.RunWithOptions(t, so, func(t *testing.T) storage.ObjectStore {
		return mutant{openTestStore(t, opts), bug}
	})
}

func TestContractCatchesMutants(t *testing.T) {
	cases := []struct{ bug, subtest string }{
		{"versions-oldest-first", "Overwrite"},
		{"size-off-by-one", "SizeAccounting"},
		{"list-ignores-limit", "ListPaging"},
		{"list-ignores-at", "ListAt"},
		{"list-ignores-delimiter", "ListDelimiter"},
		{"put-ignores-if-match", "IfMatch"},
		{"locked-is-not-an-error-kind", "BucketLocked"},
		{"get-ignores-offset", "PutGetStat"},
		{"delete-is-remove", "DeleteMarker"},
		{"complete-twice-ok", "MultipartFlow"},
	}
	run := func(bug, subtest string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestContractMutantChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), mutantEnv+"="+bug, mutantOnlyEnv+"="+subtest)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// The harness itself: without a bug the same subtest passes.
	if out, err := run("none", "Overwrite"); err != nil || !strings.Contains(out, "--- PASS: TestContractMutantChild/Overwrite") {
		t.Fatalf("unmutated child: %v\n%s", err, out)
	}
	for _, c := range cases {
		out, err := run(c.bug, c.subtest)
		if err == nil || !strings.Contains(out, "--- FAIL: TestContractMutantChild/"+c.subtest) {
			t.Errorf("the contract suite's %s does not catch the bug %q (child: %v)", c.subtest, c.bug, err)
		}
	}
}
