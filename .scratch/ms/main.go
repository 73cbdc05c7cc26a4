package main

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func cpu() time.Duration {
	var r syscall.Rusage
	syscall.Getrusage(0, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

func main() {
	for _, mode := range []string{"msync", "fdatasync", "msync", "fdatasync"} {
		f, _ := os.Create("/var/tmp/ms.bin")
		size := 128 << 20
		f.Truncate(int64(size))
		data, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			panic(err)
		}
		const n = 1000
		c0, t0 := cpu(), time.Now()
		for i := 0; i < n; i++ {
			off := i * 65536
			for j := 0; j < 65536; j += 8 {
				data[off+j] = byte(i)
			}
			if mode == "msync" {
				unix.Msync(data, unix.MS_SYNC)
			} else {
				unix.Fdatasync(int(f.Fd()))
			}
		}
		fmt.Printf("%s: %v per sync wall, %v cpu per sync\n", mode, time.Since(t0)/n, (cpu()-c0)/n)
		unix.Munmap(data)
		f.Close()
		os.Remove("/var/tmp/ms.bin")
	}
}
