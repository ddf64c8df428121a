# hyperctl-op: vm.resume
param($d)
# hyperctl-include: vm-record
$vm = Get-VM -Id $d.id
Resume-VM -VM $vm
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $d.id) }
