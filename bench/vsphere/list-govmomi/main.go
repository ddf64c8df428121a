// list-govmomi: the reference side of bench/vsphere/list_vs_govmomi.sh. It
// lists the VMs of a vSphere endpoint through govmomi, showing what
// `hyperctl list` shows: one container view over the root folder for
// VirtualMachine and HostSystem; one RetrievePropertiesEx with the VM paths
// (-vm-paths; by default the shown fields: name, instance UUID, power state,
// vCPUs, memory, host) and the hosts' names, then ContinueRetrievePropertiesEx
// while the server pages; DestroyView; decodes the VMs into govmomi's types;
// logs out; writes one line per VM (name, instance UUID, power state, vCPUs,
// memory, host name) to stdout, or with -count only the number of VMs.
//
//	HYPERCTL_PASSWORD=... list-govmomi -url https://127.0.0.1:PORT/sdk -user U [-thumbprint SHA256] [-vm-paths a,b,c] [-count]
package main

import (
	"benchlogin"
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// The fields a listing shows, each asked for by its own path, as a govmomi
// program would.
const defaultVMPaths = "name,config.instanceUuid,runtime.powerState,config.hardware.numCPU," +
	"config.hardware.memoryMB,runtime.host"

func run() error {
	sdk := flag.String("url", "", "the SDK URL (https://HOST:PORT/sdk)")
	user := flag.String("user", "", "user name")
	thumbprint := flag.String("thumbprint", "", "SHA-256 thumbprint the certificate must have (empty: not checked)")
	vmPaths := flag.String("vm-paths", defaultVMPaths, "the VM property paths, comma-separated")
	countOnly := flag.Bool("count", false, "print the number of VMs only")
	flag.Parse()
	ctx := context.Background()
	vc, logout, err := benchlogin.Login(ctx, *sdk, *user, *thumbprint)
	if err != nil {
		return err
	}
	defer logout()

	kinds := []string{"VirtualMachine", "HostSystem"}
	cv, err := methods.CreateContainerView(ctx, vc, &types.CreateContainerView{
		This: *vc.ServiceContent.ViewManager, Container: vc.ServiceContent.RootFolder,
		Type: kinds, Recursive: true})
	if err != nil {
		return err
	}
	view := cv.Returnval
	defer methods.DestroyView(ctx, vc, &types.DestroyView{This: view})

	var props []types.PropertySpec
	for _, k := range kinds {
		paths := []string{"name"}
		if k == "VirtualMachine" {
			paths = strings.Split(*vmPaths, ",")
		}
		props = append(props, types.PropertySpec{Type: k, PathSet: paths})
	}
	spec := types.PropertyFilterSpec{
		PropSet: props,
		ObjectSet: []types.ObjectSpec{{Obj: view, Skip: types.NewBool(true),
			SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{
				SelectionSpec: types.SelectionSpec{Name: "view"},
				Type:          "ContainerView", Path: "view", Skip: types.NewBool(false)}}}},
	}
	pc := vc.ServiceContent.PropertyCollector
	res, err := methods.RetrievePropertiesEx(ctx, vc, &types.RetrievePropertiesEx{
		This: pc, SpecSet: []types.PropertyFilterSpec{spec}})
	if err != nil {
		return err
	}
	var objects []types.ObjectContent
	for r := res.Returnval; r != nil; {
		objects = append(objects, r.Objects...)
		if r.Token == "" {
			break
		}
		next, err := methods.ContinueRetrievePropertiesEx(ctx, vc,
			&types.ContinueRetrievePropertiesEx{This: pc, Token: r.Token})
		if err != nil {
			return err
		}
		r = &next.Returnval
	}
	var vms []mo.VirtualMachine
	var vmObjects, hostObjects []types.ObjectContent
	for _, o := range objects {
		if o.Obj.Type == "VirtualMachine" {
			vmObjects = append(vmObjects, o)
		} else {
			hostObjects = append(hostObjects, o)
		}
	}
	if err := mo.LoadObjectContent(vmObjects, &vms); err != nil {
		return err
	}
	var hosts []mo.HostSystem
	if err := mo.LoadObjectContent(hostObjects, &hosts); err != nil {
		return err
	}
	if *countOnly {
		fmt.Println(len(vms))
		return nil
	}
	hostName := map[types.ManagedObjectReference]string{}
	for _, h := range hosts {
		hostName[h.Self] = h.Name
	}
	out := bufio.NewWriter(os.Stdout)
	for _, vm := range vms {
		id, cpus, mem, host := "", int32(0), int32(0), ""
		if vm.Config != nil {
			id, cpus, mem = vm.Config.InstanceUuid, vm.Config.Hardware.NumCPU, vm.Config.Hardware.MemoryMB
		}
		if vm.Runtime.Host != nil {
			host = hostName[*vm.Runtime.Host]
		}
		fmt.Fprintf(out, "%s\t%s\t%s\t%d\t%d\t%s\n", vm.Name, id, vm.Runtime.PowerState, cpus, mem, host)
	}
	return out.Flush()
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "list-govmomi:", err)
		os.Exit(1)
	}
}
