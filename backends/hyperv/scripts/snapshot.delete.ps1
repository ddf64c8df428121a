# hyperctl-op: snapshot.delete
param($d)
$vm = Get-VM -Id $d.id
$s = @(Get-VMSnapshot -VM $vm | Where-Object { $_.Name -ceq $d.name })
if ($s.Count -ne 1) { Write-Error -Category ObjectNotFound -Message "no single checkpoint of that name" }
Remove-VMSnapshot -VMSnapshot $s[0] -IncludeAllChildSnapshots:([bool]$d.with_children) -Confirm:$false
@{}
