# hyperctl-op: snapshot.list
param($d)
$vm = Get-VM -Id $d.id
@{ snapshots = @(Get-VMSnapshot -VM $vm | ForEach-Object { @{ Id = [string]$_.Id; Name = $_.Name
      ParentSnapshotName = $_.ParentSnapshotName
      CreationTime = $_.CreationTime.ToUniversalTime().ToString("o"); SnapshotType = $_.SnapshotType } })
  current = $vm.ParentSnapshotName }
