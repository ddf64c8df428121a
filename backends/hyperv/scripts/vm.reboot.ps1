# hyperctl-op: vm.reboot
param($d)
# hyperctl-include: vm-record
$vm = Get-VM -Id $d.id
Restart-VM -VM $vm -Type Reboot -Force
@{ vm = ConvertTo-HyperctlVm (Get-VM -Id $d.id) }
