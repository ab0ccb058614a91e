# The program behind socketlab engine e1: a TCP daytime server on 127.0.0.1:5000: it tells the time.
# Run it: pwsh e1_daytime_server.ps1
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8

$listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Parse($HostName), $Port)   # socket(), bind()
$listener.Start(5)                                 # listen()
Write-Host "listening on ${HostName}:$Port"
while ($true) {
    $client = $listener.AcceptTcpClient()          # accept(): a new socket for this client
    $stream = $client.GetStream()
    Write-Host "connection from $($client.Client.RemoteEndPoint)"
    $bytes = $Utf8.GetBytes([DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ssZ') + "`r`n")
    $stream.Write($bytes, 0, $bytes.Length)         # send()
    $client.Close()                                 # close()
}
