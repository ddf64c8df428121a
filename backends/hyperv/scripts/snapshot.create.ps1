# hyperctl-op: snapshot.create
param($d)
$vm = Get-VM -Id $d.id
$s = Checkpoint-VM -VM $vm -SnapshotName $d.name -Passthru
@{ snapshot = @{ Id = [string]$s.Id; Name = $s.Name; ParentSnapshotName = $s.ParentSnapshotName
    CreationTime = $s.CreationTime.ToUniversalTime().ToString("o"); SnapshotType = $s.SnapshotType } }
