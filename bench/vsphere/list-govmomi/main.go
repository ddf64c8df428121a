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
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// The fields a listing shows, each asked for by its own path, as a govmomi
// program would.
const defaultVMPaths = "name,config.instanceUuid,runtime.powerState,config.hardware.numCPU," +
	"config.hardware.memoryMB,runtime.host"

func canonical(s string) string {
	return strings.ToUpper(strings.NewReplacer(":", "", " ", "").Replace(s))
}

func run() error {
	sdk := flag.String("url", "", "the SDK URL (https://HOST:PORT/sdk)")
	user := flag.String("user", "", "user name")
	thumbprint := flag.String("thumbprint", "", "SHA-256 thumbprint the certificate must have (empty: not checked)")
	vmPaths := flag.String("vm-paths", defaultVMPaths, "the VM property paths, comma-separated")
	countOnly := flag.Bool("count", false, "print the number of VMs only")
	flag.Parse()
	password := os.Getenv("HYPERCTL_PASSWORD")
	if *sdk == "" || *user == "" || password == "" {
		return errors.New("-url, -user and $HYPERCTL_PASSWORD are needed")
	}
	ctx := context.Background()

	u, err := soap.ParseURL(*sdk)
	if err != nil {
		return err
	}
	sc := soap.NewClient(u, true)
	if *thumbprint != "" {
		want := canonical(*thumbprint)
		sc.DefaultTransport().TLSClientConfig = &tls.Config{
			InsecureSkipVerify: true, // the pin below is the check
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if len(raw) == 0 {
					return errors.New("no certificate")
				}
				if got := fmt.Sprintf("%X", sha256.Sum256(raw[0])); got != want {
					return fmt.Errorf("certificate thumbprint %s is not the expected %s", got, want)
				}
				return nil
			},
		}
	}
	vc, err := vim25.NewClient(ctx, sc) // RetrieveServiceContent
	if err != nil {
		return err
	}
	sm := session.NewManager(vc)
	if err := sm.Login(ctx, url.UserPassword(*user, password)); err != nil {
		return err
	}
	defer sm.Logout(ctx)

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
