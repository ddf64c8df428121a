# hyperctl-op: vm.reset
param($d)
# hyperctl-include: vm-record
$vm = Get-VM -Id $d.id
Restart-VM -VM $vm -Type Reset -Force
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $d.id) }
