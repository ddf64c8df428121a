# hyperctl-op: migrate.check
param($d)
# Compare-VM's report for a move to the destination host (what Move-VM
# would refuse), without moving anything.
$vm = Get-VM -Id $d.id
$move = @{ VM = $vm; DestinationHost = $d.destination }
if ($d.include_storage) { $move.IncludeStorage = $true }
if ($d.destination_path) { $move.DestinationStoragePath = $d.destination_path }
$report = Compare-VM @move
$found = @()
foreach ($item in @($report.Incompatibilities)) {
  $found += @{ Message = [string]$item.Message; MessageId = $item.MessageId }
}
@{ incompatibilities = $found }
