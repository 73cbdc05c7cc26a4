package storage_test

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestCrashNoSync: puts acknowledged with NoSync survive a SIGKILL of the
// process (they are in the index's log and the page cache), and the store
// reopens clean.
func TestCrashNoSync(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: crash test")
	}
	t.Setenv(crashNoSyncEnv, "1")
	seed := uint64(time.Now().UnixNano())
	if *modelSeed != 0 {
		seed = *modelSeed
	}
	t.Logf("seed %d (replay the kill points: -seed=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 2))
	dir := t.TempDir()
	acks := map[string]crashAck{}
	for round := range 3 {
		wantAcks, delay := 1+r.IntN(200), time.Duration(r.IntN(20))*time.Millisecond
		got, errs := runCrashChild(t, dir, round, wantAcks, delay)
		for _, a := range got {
			acks[a[0]+"@"+a[1]] = crashAck{a[1], a[2]}
		}
		t.Logf("round %d: killed after %d acks (+%v), %d acks read", round, wantAcks, delay, len(got))
		for _, e := range errs {
			t.Errorf("child put failed before the kill: %s", e)
		}
		verifyAcks(t, dir, acks)
	}
	cleanAndCheckLeftovers(t, dir)
}
