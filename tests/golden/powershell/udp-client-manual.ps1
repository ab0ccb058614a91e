# The program behind socketlab engine e1: a UDP client of 127.0.0.1:5000: you type what it sends.
# Run it: pwsh e1_udp_manual_client.ps1
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8

$udp = [System.Net.Sockets.UdpClient]::new(0)   # socket(), bind(): any free port
$server = [System.Net.IPEndPoint]::new([System.Net.IPAddress]::Parse($HostName), $Port)
Write-Host "bound to $($udp.Client.LocalEndPoint)"
$udp.Client.ReceiveTimeout = 1000               # wait a second for each reply
while ($null -ne ($line = [Console]::In.ReadLine())) {   # each line you type
    $bytes = $Utf8.GetBytes($line + "`n")
    $udp.Send($bytes, $bytes.Length, $server) | Out-Null   # sendto()
    $from = [System.Net.IPEndPoint]::new([System.Net.IPAddress]::Any, 0)
    try { Write-Host "received $($Utf8.GetString($udp.Receive([ref]$from))) from $from" } catch { }   # recvfrom()
}
$udp.Close()                                     # close()
