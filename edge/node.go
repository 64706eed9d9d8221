package edge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/api"
)

// maxPods is the pods capacity a node advertises, as the kubelet's default.
const maxPods = "110"

// nodeObject is the Node as this agent sees itself: labels, capacity,
// runtimes and system information.
func (a *Agent) nodeObject() *api.Node {
	labels := map[string]string{
		api.LabelArch: runtime.GOARCH,
		api.LabelOS:   runtime.GOOS,
		// The node name, not os.Hostname: it is unique in the cluster
		// and always a valid label value (several agents may share a
		// host), as with the kubelet's --hostname-override.
		api.LabelHostname: a.opts.NodeName,
	}
	for k, v := range a.opts.Labels {
		labels[k] = v
	}
	capacity := api.ResourceList{
		api.ResourceCPU:  api.Quantity(strconv.Itoa(runtime.NumCPU())),
		api.ResourcePods: api.Quantity(maxPods),
	}
	if kib, err := memTotalKiB("/proc/meminfo"); err == nil {
		capacity[api.ResourceMemory] = api.Quantity(strconv.FormatInt(kib, 10) + "Ki")
	}
	allocatable := api.ResourceList{}
	for k, v := range capacity {
		allocatable[k] = v
	}
	var handlers []api.NodeRuntimeHandler
	for _, d := range a.driverList {
		c := d.Capabilities()
		handlers = append(handlers, api.NodeRuntimeHandler{Name: c.Runtime})
		if c.Engine != "" {
			labels[api.AgentLabelPrefix+c.Runtime+"-engine"] = c.Engine
		}
	}
	var addrs []api.NodeAddress
	if ip := a.HostIP(); ip != "" {
		addrs = append(addrs, api.NodeAddress{Type: "InternalIP", Address: ip})
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		addrs = append(addrs, api.NodeAddress{Type: "Hostname", Address: h})
	}
	n := &api.Node{
		ObjectMeta: api.ObjectMeta{Name: a.opts.NodeName, Labels: labels},
		Status: api.NodeStatus{
			Capacity:    capacity,
			Allocatable: allocatable,
			Addresses:   addrs,
			Runtimes:    handlers,
			NodeInfo: api.NodeSystemInfo{
				MachineID:       readTrimmed("/etc/machine-id"),
				KernelVersion:   readTrimmed("/proc/sys/kernel/osrelease"),
				OSImage:         osImage("/etc/os-release"),
				OperatingSystem: runtime.GOOS,
				Architecture:    runtime.GOARCH,
				AgentVersion:    a.opts.AgentVersion,
			},
		},
	}
	api.SetDefaults(n)
	return n
}

// agentVersion is the version of the running binary's main module.
func agentVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// memTotalKiB reads MemTotal (in KiB, which /proc calls kB).
func memTotalKiB(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, errors.New("no MemTotal in " + path)
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func osImage(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// detectHostIP is the local address this node reaches the NATS server
// from: the address other machines of the cluster see. Without a
// connection it is the first non-loopback IPv4 address, or "".
func detectHostIP(nc *nats.Conn) string {
	if addr := nc.ConnectedAddr(); addr != "" {
		// A UDP "connection" sends nothing; it only picks the route.
		if c, err := net.Dial("udp", addr); err == nil {
			defer c.Close()
			if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
				return ua.IP.String()
			}
		}
	}
	ifaces, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range ifaces {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return ""
}

// register sends the node's registration once.
func (a *Agent) register(ctx context.Context) error {
	b, err := json.Marshal(api.NodeRegistration{Node: *a.nodeObject()})
	if err != nil {
		return fmt.Errorf("register node %s: %w", a.opts.NodeName, err)
	}
	var ack api.Ack
	if err := a.request(ctx, api.AgentRegister, b, &ack); err != nil {
		return fmt.Errorf("register node %s: %w", a.opts.NodeName, err)
	}
	if ack.Error != "" {
		return fmt.Errorf("register node %s: control plane refused: %s", a.opts.NodeName, ack.Error)
	}
	for _, w := range ack.Warnings {
		a.log.Warn("registration: not applied", "node", a.opts.NodeName, "reason", w)
	}
	return nil
}

// registerLoop registers the node, retrying with back-off until
// acknowledged, and again after every reconnect (the control plane keeps
// what administrators set and takes the rest from the agent).
func (a *Agent) registerLoop(ctx context.Context) {
	failures := 0
	for {
		err := a.register(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if failures > 0 || !a.registered.Load() {
				a.log.Info("node registered")
			}
			a.registered.Store(true)
			failures = 0
			select {
			case <-ctx.Done():
				return
			case <-a.registerKick:
			}
			continue
		}
		failures++
		if failures == 1 {
			a.log.Warn("node registration failed; retrying", "err", err)
		} else {
			a.log.Debug("node registration failed; retrying", "err", err)
		}
		if !sleepCtx(ctx, backoffDelay(time.Second, 30*time.Second, failures)) {
			return
		}
	}
}

// leaseDuration is how long one renewal keeps the node alive: four
// intervals, as the kubelet's 40s lease renewed every 10s.
func (a *Agent) leaseDuration() int32 {
	s := int32((4*a.opts.LeaseInterval + time.Second - 1) / time.Second)
	return max(s, 1)
}

// leaseLoop publishes a lease renewal now and every LeaseInterval.
func (a *Agent) leaseLoop(ctx context.Context) {
	t := time.NewTicker(a.opts.LeaseInterval)
	defer t.Stop()
	subject := api.AgentSubject(a.opts.NodeName, api.AgentLease)
	for {
		// While disconnected a renewal would only wait in the reconnect
		// buffer and arrive stale; the next tick after reconnecting counts.
		if a.nc.IsConnected() {
			b, err := json.Marshal(api.LeaseRenewal{Node: a.opts.NodeName, RenewTime: time.Now().UTC(), LeaseDurationSeconds: a.leaseDuration()})
			if err == nil {
				err = a.nc.Publish(subject, b)
			}
			if err != nil {
				a.log.Debug("lease renewal not sent", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
