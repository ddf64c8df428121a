# hyperctl-op: pool.list
param($d)
# The host's two default folders are the pools; their volume gives the sizes
# (0 when it cannot be read, e.g. a share).
$vmHost = Get-VMHost
$pools = @()
foreach ($pool in @(@{ Name = 'vhd'; Path = $vmHost.VirtualHardDiskPath },
                    @{ Name = 'vm'; Path = $vmHost.VirtualMachinePath })) {
  $capacity = 0
  $free = 0
  try {
    $drive = New-Object -TypeName System.IO.DriveInfo -ArgumentList ([System.IO.Path]::GetPathRoot($pool.Path))
    $capacity = $drive.TotalSize
    $free = $drive.AvailableFreeSpace
  } catch {
  }
  $pools += @{ Name = $pool.Name; Path = $pool.Path; CapacityBytes = $capacity; FreeBytes = $free }
}
@{ pools = $pools }
