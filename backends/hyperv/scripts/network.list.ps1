# hyperctl-op: network.list
param($d)
@{ switches = @(Get-VMSwitch | ForEach-Object { @{ Id = [string]$_.Id; Name = $_.Name
      SwitchType = $_.SwitchType; NetAdapterInterfaceDescription = $_.NetAdapterInterfaceDescription } }) }
