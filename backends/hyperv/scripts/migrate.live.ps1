# hyperctl-op: migrate.live
param($d)
# Live when the VM runs. If Move-VM fails or its session ends, Hyper-V
# cancels the move and the VM stays on this host.
$vm = Get-VM -Id $d.id
$move = @{ VM = $vm; DestinationHost = $d.destination }
if ($d.include_storage) { $move.IncludeStorage = $true }
if ($d.destination_path) { $move.DestinationStoragePath = $d.destination_path }
Move-VM @move
@{}
