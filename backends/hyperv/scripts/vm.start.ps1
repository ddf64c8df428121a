# hyperctl-op: vm.start
param($d)
# hyperctl-include: vm-record
$vm = Get-VM -Id $d.id
Start-VM -VM $vm
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $d.id) }
