# The program behind socketlab engine e1: a UDP client of 127.0.0.1:5000: it prints what arrives and never replies.
# Run it: pwsh e1_udp_discard_client.ps1
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8

$udp = [System.Net.Sockets.UdpClient]::new(0)   # socket(), bind(): any free port
$server = [System.Net.IPEndPoint]::new([System.Net.IPAddress]::Parse($HostName), $Port)
Write-Host "bound to $($udp.Client.LocalEndPoint)"
while ($true) {
    $from = [System.Net.IPEndPoint]::new([System.Net.IPAddress]::Any, 0)
    $data = $Utf8.GetString($udp.Receive([ref]$from))   # recvfrom()
    Write-Host "received $data from $from"
}
