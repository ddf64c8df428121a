package main

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// freshInstanceUuid gives a vCenter model its own instanceUuid (govmomi 0.24's
// VPX model keeps a fixed one, so two simulators would look like one vCenter).
func freshInstanceUuid(m *simulator.Model) {
	if m.ServiceContent.About.ApiType == "VirtualCenter" {
		m.ServiceContent.About.InstanceUuid = uuid.New().String()
	}
}

func hostNamed(name string) *simulator.HostSystem {
	for _, e := range simulator.Map.All("HostSystem") {
		if h, ok := e.(*simulator.HostSystem); ok && h.Name == name {
			return h
		}
	}
	return nil
}

// hostCommand: host NAME maintenance on|off | cpu-vendor VENDOR |
// drop-network NETWORK | drop-datastore DATASTORE.
func hostCommand(fields []string) string {
	if len(fields) != 4 {
		return "error: host NAME maintenance on|off | cpu-vendor V | drop-network N | drop-datastore D"
	}
	h := hostNamed(fields[1])
	if h == nil {
		return fmt.Sprintf("error: no host %q", fields[1])
	}
	arg := fields[3]
	reply := "ok"
	simulator.Map.WithLock(h, func() {
		switch fields[2] {
		case "maintenance":
			h.Runtime.InMaintenanceMode = arg == "on"
			h.Summary.Runtime.InMaintenanceMode = arg == "on"
		case "cpu-vendor":
			hw := *h.Hardware
			hw.CpuPkg = append([]types.HostCpuPackage(nil), hw.CpuPkg...)
			for i := range hw.CpuPkg {
				hw.CpuPkg[i].Vendor = arg
			}
			h.Hardware = &hw
		case "drop-network", "drop-datastore":
			list := &h.Network
			kind := "Network"
			if fields[2] == "drop-datastore" {
				list, kind = &h.Datastore, "Datastore"
			}
			kept := (*list)[:0:0]
			found := false
			for _, ref := range *list {
				if e, ok := simulator.Map.Get(ref).(mo.Entity); ok && e.Entity().Name == arg {
					found = true
					continue
				}
				kept = append(kept, ref)
			}
			if !found {
				reply = fmt.Sprintf("error: host %q has no %s %q", fields[1], kind, arg)
				return
			}
			*list = kept
		default:
			reply = "error: unknown host command " + fields[2]
		}
	})
	return reply
}
