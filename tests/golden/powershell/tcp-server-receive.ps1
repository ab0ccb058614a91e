# The program behind socketlab engine e1: a TCP receive server on 127.0.0.1:5000: it keeps what each client sends as a file.
# Run it: pwsh e1_receive_server.ps1
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8

$listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Parse($HostName), $Port)   # socket(), bind()
$listener.Start(5)                                 # listen()
Write-Host "listening on ${HostName}:$Port"
$count = 0
while ($true) {
    $client = $listener.AcceptTcpClient()          # accept(): a new socket for this client
    $stream = $client.GetStream()
    Write-Host "connection from $($client.Client.RemoteEndPoint)"
    $count++
    $name = "received-$count.bin"
    $file = [System.IO.File]::Create((Join-Path $PWD $name))
    $stream.CopyTo($file)                           # recv() until the client is done
    $file.Close()
    Write-Host "saved $name SHA-256 $((Get-FileHash $name -Algorithm SHA256).Hash.ToLower())"
    $client.Close()                                 # close()
}
