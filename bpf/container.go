package bpf

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

// containerCache maps cgroup v2 ids to container ids, reading the cgroup
// path of a process in the cgroup from procRoot/PID/cgroup the first time
// an id is seen. It holds at most max ids (then starts over). It is used by
// one goroutine.
type containerCache struct {
	procRoot string
	max      int
	ids      map[uint64]string
}

func newContainerCache(procRoot string, max int) *containerCache {
	return &containerCache{procRoot: procRoot, max: max, ids: make(map[uint64]string)}
}

// lookup returns the container id of the cgroup (read through tgid, a
// process in it), or "" for none or when the process is gone.
func (c *containerCache) lookup(cgroup uint64, tgid uint32) string {
	if id, ok := c.ids[cgroup]; ok {
		return id
	}
	b, err := os.ReadFile(filepath.Join(c.procRoot, strconv.FormatUint(uint64(tgid), 10), "cgroup"))
	if err != nil {
		return "" // not cached: a later event may find the process
	}
	id := containerID(cgroupV2Path(b))
	if len(c.ids) >= c.max {
		clear(c.ids)
	}
	c.ids[cgroup] = id
	return id
}

// cgroupV2Path returns the unified hierarchy's path from a
// /proc/PID/cgroup file ("0::/path").
func cgroupV2Path(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if p, ok := bytes.CutPrefix(sc.Bytes(), []byte("0::")); ok {
			return string(p)
		}
	}
	return ""
}

// containerRE matches the container ids that runtimes put in cgroup paths:
// docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope,
// libpod-<id>.scope, /docker/<id>, /kubepods/.../<id>.
var containerRE = regexp.MustCompile(`(?:^|[/-])([0-9a-f]{64})(?:\.scope)?(?:/|$)`)

// containerID returns the last container id in a cgroup path, or "".
func containerID(path string) string {
	m := containerRE.FindAllStringSubmatch(path, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1][1]
}
