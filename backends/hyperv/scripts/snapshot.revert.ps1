# hyperctl-op: snapshot.revert
param($d)
$vm = Get-VM -Id $d.id
$s = @(Get-VMSnapshot -VM $vm | Where-Object { $_.Name -ceq $d.name })
if ($s.Count -ne 1) { Write-Error -Category ObjectNotFound -Message "no single checkpoint of that name" }
Restore-VMSnapshot -VMSnapshot $s[0] -Confirm:$false
@{}
