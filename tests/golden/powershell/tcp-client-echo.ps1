# The program behind socketlab engine e1: a TCP client of 127.0.0.1:5000: it sends back what it receives.
# Run it: pwsh e1_echo_client.ps1
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8

$client = [System.Net.Sockets.TcpClient]::new($HostName, $Port)   # socket(), connect()
$stream = $client.GetStream()
Write-Host "connected from $($client.Client.LocalEndPoint)"   # the ephemeral port
$buffer = New-Object byte[] 1024
while (($n = $stream.Read($buffer, 0, $buffer.Length)) -gt 0) {   # recv()
    $data = $Utf8.GetString($buffer, 0, $n)
    Write-Host "received $data"
    $bytes = $Utf8.GetBytes($data)
    $stream.Write($bytes, 0, $bytes.Length)      # send()
}
$client.Close()                                  # close()
