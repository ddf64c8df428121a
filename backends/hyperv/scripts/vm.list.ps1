# hyperctl-op: vm.list
param($d)
# hyperctl-include: vm-record
@{ vms = @(Get-VM | ForEach-Object { ConvertTo-HyperctlVm $_ }) }
