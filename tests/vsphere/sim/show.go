package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// decodeName undoes vSphere's escaping of inventory names: it stores '%',
// '/' and '\' as %25, %2f and %5c. Anything else is left as it is.
func decodeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			switch strings.ToLower(s[i+1 : i+3]) {
			case "25":
				b.WriteByte('%')
				i += 2
				continue
			case "2f":
				b.WriteByte('/')
				i += 2
				continue
			case "5c":
				b.WriteByte('\\')
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

type jsonObject = map[string]interface{}

func snapshotTree(list []types.VirtualMachineSnapshotTree, current *types.ManagedObjectReference,
	currentName *string) []jsonObject {
	out := []jsonObject{}
	for _, t := range list {
		if current != nil && t.Snapshot == *current {
			*currentName = decodeName(t.Name)
		}
		out = append(out, jsonObject{
			"name":        decodeName(t.Name),
			"rawName":     t.Name,
			"moref":       t.Snapshot.Value,
			"description": t.Description,
			"state":       string(t.State),
			"quiesced":    t.Quiesced,
			"children":    snapshotTree(t.ChildSnapshotList, current, currentName),
		})
	}
	return out
}

func sortByName(list []jsonObject) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := fmt.Sprint(list[i]["name"]), fmt.Sprint(list[j]["name"])
		if a != b {
			return a < b
		}
		return fmt.Sprint(list[i]["moref"]) < fmt.Sprint(list[j]["moref"])
	})
}

// inventory reads everything through one container view over the root folder.
func inventory(ctx context.Context, vc *vim25.Client) (jsonObject, error) {
	v, err := view.NewManager(vc).CreateContainerView(ctx, vc.ServiceContent.RootFolder, nil, true)
	if err != nil {
		return nil, err
	}
	defer v.Destroy(ctx)

	var dcs []mo.Datacenter
	if err := v.Retrieve(ctx, []string{"Datacenter"}, []string{"name", "parent"}, &dcs); err != nil {
		return nil, fmt.Errorf("datacenters: %v", err)
	}
	var clusters []mo.ClusterComputeResource
	if err := v.Retrieve(ctx, []string{"ClusterComputeResource"}, []string{"name", "host"}, &clusters); err != nil {
		return nil, fmt.Errorf("clusters: %v", err)
	}
	var hosts []mo.HostSystem
	if err := v.Retrieve(ctx, []string{"HostSystem"},
		[]string{"name", "runtime", "summary.hardware", "hardware.cpuPkg", "parent"}, &hosts); err != nil {
		return nil, fmt.Errorf("hosts: %v", err)
	}
	var dss []mo.Datastore
	if err := v.Retrieve(ctx, []string{"Datastore"}, []string{"name", "summary", "host"}, &dss); err != nil {
		return nil, fmt.Errorf("datastores: %v", err)
	}
	var nets []mo.Network
	if err := v.Retrieve(ctx, []string{"Network"}, []string{"name"}, &nets); err != nil {
		return nil, fmt.Errorf("networks: %v", err)
	}
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"},
		[]string{"name", "config", "runtime", "datastore", "network", "snapshot", "resourcePool", "parent",
			"summary.storage"},
		&vms); err != nil {
		return nil, fmt.Errorf("VMs: %v", err)
	}

	names := map[types.ManagedObjectReference]string{}
	for _, x := range dcs {
		names[x.Self] = decodeName(x.Name)
	}
	for _, x := range clusters {
		names[x.Self] = decodeName(x.Name)
	}
	for _, x := range hosts {
		names[x.Self] = decodeName(x.Name)
	}
	for _, x := range dss {
		names[x.Self] = decodeName(x.Name)
	}
	portgroupByKey := map[string]string{}
	for _, x := range nets {
		names[x.Self] = decodeName(x.Name)
		if x.Self.Type == "DistributedVirtualPortgroup" {
			portgroupByKey[x.Self.Value] = decodeName(x.Name)
		}
	}

	out := jsonObject{}
	about := vc.ServiceContent.About
	out["product"] = jsonObject{"name": about.Name, "fullName": about.FullName, "apiType": about.ApiType,
		"version": about.Version, "build": about.Build, "apiVersion": about.ApiVersion,
		"instanceUuid": about.InstanceUuid}

	list := []jsonObject{}
	for _, x := range dcs {
		path, err := inventoryPath(ctx, vc, x.Name, x.Parent)
		if err != nil {
			return nil, fmt.Errorf("datacenter path: %v", err)
		}
		list = append(list, jsonObject{"name": decodeName(x.Name), "rawName": x.Name, "moref": x.Self.Value,
			"path": path})
	}
	sortByName(list)
	out["datacenters"] = list

	list = []jsonObject{}
	for _, x := range clusters {
		hs := []string{}
		for _, h := range x.Host {
			hs = append(hs, names[h])
		}
		sort.Strings(hs)
		list = append(list, jsonObject{"name": decodeName(x.Name), "moref": x.Self.Value, "hosts": hs})
	}
	sortByName(list)
	out["clusters"] = list

	list = []jsonObject{}
	for _, x := range hosts {
		h := jsonObject{"name": decodeName(x.Name), "moref": x.Self.Value,
			"connectionState":   string(x.Runtime.ConnectionState),
			"powerState":        string(x.Runtime.PowerState),
			"inMaintenanceMode": x.Runtime.InMaintenanceMode}
		if x.Parent != nil && x.Parent.Type == "ClusterComputeResource" {
			h["cluster"] = names[*x.Parent]
		}
		if hw := x.Summary.Hardware; hw != nil {
			h["cpuModel"] = hw.CpuModel
			h["cpuMhz"] = hw.CpuMhz
			h["numCpu"] = hw.NumCpuThreads
			h["numCpuCores"] = hw.NumCpuCores
			h["numCpuPkgs"] = hw.NumCpuPkgs
			h["memoryBytes"] = hw.MemorySize
			h["vendor"] = hw.Vendor
			h["model"] = hw.Model
		}
		if x.Hardware != nil && len(x.Hardware.CpuPkg) > 0 {
			h["cpuVendor"] = x.Hardware.CpuPkg[0].Vendor
		}
		list = append(list, h)
	}
	sortByName(list)
	out["hosts"] = list

	list = []jsonObject{}
	for _, x := range dss {
		hs := []string{}
		for _, m := range x.Host {
			hs = append(hs, names[m.Key])
		}
		sort.Strings(hs)
		list = append(list, jsonObject{"name": decodeName(x.Name), "moref": x.Self.Value,
			"type": x.Summary.Type, "capacity": x.Summary.Capacity, "free": x.Summary.FreeSpace,
			"accessible": x.Summary.Accessible, "url": x.Summary.Url, "hosts": hs})
	}
	sortByName(list)
	out["datastores"] = list

	list = []jsonObject{}
	for _, x := range nets {
		list = append(list, jsonObject{"name": decodeName(x.Name), "rawName": x.Name, "moref": x.Self.Value,
			"type": x.Self.Type})
	}
	sortByName(list)
	out["networks"] = list

	list = []jsonObject{}
	for _, x := range vms {
		vm := jsonObject{"name": decodeName(x.Name), "rawName": x.Name, "moref": x.Self.Value,
			"powerState": string(x.Runtime.PowerState)}
		if x.Runtime.Host != nil {
			vm["host"] = names[*x.Runtime.Host]
		}
		ds := []string{}
		for _, d := range x.Datastore {
			ds = append(ds, names[d])
		}
		sort.Strings(ds)
		vm["datastores"] = ds
		if st := x.Summary.Storage; st != nil {
			vm["provisionedBytes"] = st.Committed + st.Uncommitted
		}
		disks, nics := []jsonObject{}, []jsonObject{}
		if c := x.Config; c != nil {
			vm["uuid"] = c.Uuid
			vm["instanceUuid"] = c.InstanceUuid
			vm["guestId"] = c.GuestId
			vm["numCpu"] = c.Hardware.NumCPU
			vm["memoryMB"] = c.Hardware.MemoryMB
			vm["annotation"] = c.Annotation
			vm["template"] = c.Template
			vm["vmPathName"] = c.Files.VmPathName
			for _, d := range c.Hardware.Device {
				switch dev := d.(type) {
				case *types.VirtualDisk:
					file := ""
					if b, ok := dev.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
						file = b.GetVirtualDeviceFileBackingInfo().FileName
					}
					capacity := dev.CapacityInBytes
					if capacity == 0 {
						capacity = dev.CapacityInKB * 1024
					}
					disks = append(disks, jsonObject{"file": file, "capacityBytes": capacity,
						"key": dev.Key, "label": deviceLabel(d)})
				default:
					card, ok := d.(types.BaseVirtualEthernetCard)
					if !ok {
						continue
					}
					e := card.GetVirtualEthernetCard()
					network := ""
					switch b := e.Backing.(type) {
					case *types.VirtualEthernetCardNetworkBackingInfo:
						network = decodeName(b.DeviceName)
					case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
						network = portgroupByKey[b.Port.PortgroupKey]
					case *types.VirtualEthernetCardOpaqueNetworkBackingInfo:
						network = b.OpaqueNetworkId
					}
					connected := false
					if e.Connectable != nil {
						connected = e.Connectable.Connected
					}
					nics = append(nics, jsonObject{"mac": e.MacAddress, "network": network,
						"key": e.Key, "label": deviceLabel(d), "connected": connected,
						"type": strings.TrimPrefix(fmt.Sprintf("%T", d), "*types.")})
				}
			}
		}
		vm["disks"] = disks
		vm["nics"] = nics
		current := ""
		tree := []jsonObject{}
		if x.Snapshot != nil {
			tree = snapshotTree(x.Snapshot.RootSnapshotList, x.Snapshot.CurrentSnapshot, &current)
		}
		vm["snapshots"] = tree
		vm["currentSnapshot"] = current
		list = append(list, vm)
	}
	sortByName(list)
	out["vms"] = list
	return out, nil
}

// inventoryPath: the names (as stored) from below the root folder down to
// an object named `name` whose parent is `parent`, joined by '/': "F0/DC0".
func inventoryPath(ctx context.Context, vc *vim25.Client, name string,
	parent *types.ManagedObjectReference) (string, error) {
	parts := []string{name}
	pc := property.DefaultCollector(vc)
	for parent != nil && *parent != vc.ServiceContent.RootFolder {
		var f mo.Folder
		if err := pc.RetrieveOne(ctx, *parent, []string{"name", "parent"}, &f); err != nil {
			return "", err
		}
		parts = append([]string{f.Name}, parts...)
		parent = f.Parent
	}
	return strings.Join(parts, "/"), nil
}

func deviceLabel(d types.BaseVirtualDevice) string {
	if info := d.GetVirtualDevice().DeviceInfo; info != nil {
		return info.GetDescription().Label
	}
	return ""
}

func show(args []string) error {
	fs := flag.NewFlagSet("show", flag.ExitOnError)
	var e endpoint
	e.register(fs)
	fs.Parse(args)
	ctx := context.Background()
	vc, sm, err := login(ctx, e)
	if err != nil {
		return err
	}
	defer sm.Logout(ctx)
	out, err := inventory(ctx, vc)
	if err != nil {
		return err
	}
	if others, err := otherSessions(ctx, vc, sm); err == nil {
		out["sessions"] = len(others) // not counting show's own
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// files lists a datastore folder and its subfolders.
func files(args []string) error {
	fs := flag.NewFlagSet("files", flag.ExitOnError)
	var e endpoint
	e.register(fs)
	dsName := fs.String("datastore", "", "the datastore's name")
	dir := fs.String("path", "", "the folder inside it (default: its root)")
	fs.Parse(args)
	if *dsName == "" {
		return fmt.Errorf("-datastore is needed")
	}
	ctx := context.Background()
	vc, sm, err := login(ctx, e)
	if err != nil {
		return err
	}
	defer sm.Logout(ctx)

	v, err := view.NewManager(vc).CreateContainerView(ctx, vc.ServiceContent.RootFolder,
		[]string{"Datastore"}, true)
	if err != nil {
		return err
	}
	defer v.Destroy(ctx)
	var dss []mo.Datastore
	if err := v.Retrieve(ctx, []string{"Datastore"}, []string{"name", "browser"}, &dss); err != nil {
		return err
	}
	var found *mo.Datastore
	for i := range dss {
		if decodeName(dss[i].Name) == *dsName || dss[i].Name == *dsName {
			found = &dss[i]
			break
		}
	}
	if found == nil {
		return fmt.Errorf("no datastore named %q", *dsName)
	}
	browser := object.NewHostDatastoreBrowser(vc, found.Browser)
	prefix := "[" + found.Name + "]"
	target := prefix
	if *dir != "" {
		target += " " + *dir
	}
	spec := types.HostDatastoreBrowserSearchSpec{
		MatchPattern: []string{"*"},
		Details:      &types.FileQueryFlags{FileType: true, FileSize: true, Modification: true},
	}
	task, err := browser.SearchDatastoreSubFolders(ctx, target, &spec)
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return err
	}
	list := []jsonObject{}
	if res, ok := info.Result.(types.ArrayOfHostDatastoreBrowserSearchResults); ok {
		for _, r := range res.HostDatastoreBrowserSearchResults {
			folder := strings.Trim(strings.TrimPrefix(r.FolderPath, prefix), " /")
			for _, f := range r.File {
				fi := f.GetFileInfo()
				list = append(list, jsonObject{"path": path.Join(folder, fi.Path), "size": fi.FileSize,
					"type": strings.TrimPrefix(fmt.Sprintf("%T", f), "*types.")})
			}
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i]["path"].(string) < list[j]["path"].(string) })
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(list)
}
